#!/usr/bin/env python3
"""Official Genesys Cloud Python SDK (purecloudplatformclientv2) against the gcprov emulator.

Usage: sdk_compat.py BASE_URL CLIENT_ID CLIENT_SECRET

Logs in with client credentials and exercises users (create, get, patch with version, search,
q64 paging, delete, restore), groups and members, routing skills, SCIM users and groups, and
OAuth clients. Every call goes through the SDK, so every response is deserialised into the SDK's
models; the script asserts the values. Exit status 0 only when every check passed.
"""

import sys
import uuid

import PureCloudPlatformClientV2 as gc
from PureCloudPlatformClientV2.rest import ApiException

CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise AssertionError(what)


def expect_status(status, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        check(e.status == status, f"{fn.__name__}: expected {status}, got {e.status}: {e.body}")
        return e
    raise AssertionError(f"{fn.__name__}: expected HTTP {status}, got success")


def main():
    base, client_id, secret = sys.argv[1], sys.argv[2], sys.argv[3]
    client = gc.api_client.ApiClient(host=base).get_client_credentials_token(client_id, secret)
    check(client.access_token, "login returned a token")
    users = gc.UsersApi(client)
    groups = gc.GroupsApi(client)
    routing = gc.RoutingApi(client)
    scim = gc.SCIMApi(client)
    oauth = gc.OAuthApi(client)
    authz = gc.AuthorizationApi(client)
    tag = uuid.uuid4().hex[:8]

    # ---- users
    body = gc.CreateUser()
    body.name = "Sdk Person"
    body.email = f"sdk-{tag}@example.com"
    body.state = "active"
    body.department = "QA"
    u = users.post_users(body)
    check(isinstance(u, gc.User), "post_users returns a User")
    check(u.email == body.email and u.version == 1 and u.state == "active", "created user values")
    check(u.division is not None and u.division.id, "user has a division")
    got = users.get_user(u.id)
    check(got.name == "Sdk Person" and got.department == "QA", "get_user values")
    upd = gc.UpdateUser()
    upd.version = got.version
    upd.title = "Tester"
    p = users.patch_user(u.id, upd)
    check(p.version == 2 and p.title == "Tester", "patch_user bumps version")
    stale = gc.UpdateUser()
    stale.version = 1
    stale.title = "x"
    e = expect_status(409, users.patch_user, u.id, stale)
    check("Unexpected version" in e.body, "409 body names the version conflict")
    for i in range(3):
        b = gc.CreateUser()
        b.name = f"Sdk Bulk {i}"
        b.email = f"sdk-bulk-{i}-{tag}@example.com"
        b.state = "active"
        users.post_users(b)
    crit = gc.UserSearchCriteria()
    crit.type = "CONTAINS"
    crit.fields = ["email"]
    crit.value = tag
    req = gc.UserSearchRequest()
    req.query = [crit]
    req.page_size = 2
    res = users.post_users_search(req)
    check(isinstance(res, gc.UsersSearchResponse), "search response model")
    check(res.total == 4 and res.page_count == 2 and len(res.results) == 2, f"search totals {res.total}")
    check(res.next_page and res.next_page.startswith("/api/v2/users/search?q64="), "nextPage is a q64 URI")
    q64 = res.next_page.split("q64=", 1)[1].replace("%3D", "=")
    page2 = users.get_users_search(q64)
    check(page2.page_number == 2 and len(page2.results) == 2, "q64 replays the search")
    listing = users.get_users(page_size=500)
    check(isinstance(listing, gc.UserEntityListing) and listing.total >= 4, "get_users listing")
    users.delete_user(u.id)
    expect_status(404, users.get_user, u.id)
    deleted = users.get_user(u.id, state="deleted")
    check(deleted.state == "deleted", "deleted user visible with state=deleted")
    restore = gc.UpdateUser()
    restore.version = deleted.version
    restore.state = "active"
    r = users.patch_user(u.id, restore)
    check(r.state == "active" and r.version == deleted.version + 1, "restore by PATCH state")

    # ---- routing skills
    sk = gc.CreateRoutingSkill()
    sk.name = f"Billing {tag}"
    skill = routing.post_routing_skills(sk)
    check(isinstance(skill, gc.RoutingSkill) and skill.name == sk.name, "post_routing_skills")
    check(routing.get_routing_skill(skill.id).state == "active", "get_routing_skill")
    expect_status(409, routing.post_routing_skills, sk)
    usk = gc.UserRoutingSkillPost()
    usk.id = skill.id
    usk.proficiency = 4.5
    assigned = users.post_user_routingskills(u.id, usk)
    check(assigned.proficiency == 4.5 and assigned.name == sk.name, "user routing skill assigned")
    lst = users.get_user_routingskills(u.id)
    check(lst.total == 1 and lst.entities[0].id == skill.id, "user routing skills listing")
    expanded = users.get_user(u.id, expand=["skills"])
    check(expanded.skills and expanded.skills[0].proficiency == 4.5, "expand=skills")

    # ---- groups and members
    gcre = gc.GroupCreate()
    gcre.name = f"Sdk Group {tag}"
    gcre.type = "official"
    gcre.rules_visible = True
    gcre.visibility = "public"
    g = groups.post_groups(gcre)
    check(isinstance(g, gc.Group) and g.version == 1 and g.member_count == 0, "post_groups")
    mu = gc.GroupMembersUpdate()
    mu.member_ids = [u.id]
    mu.version = g.version
    groups.post_group_members(g.id, mu)
    g2 = groups.get_group(g.id)
    check(g2.member_count == 1 and g2.version == 2, "members added, version bumped")
    members = groups.get_group_members(g.id)
    check(members.total == 1 and members.entities[0].id == u.id, "get_group_members")
    stale_members = gc.GroupMembersUpdate()
    stale_members.member_ids = [u.id]
    stale_members.version = 1
    expect_status(409, groups.post_group_members, g.id, stale_members)
    gu = gc.GroupUpdate()
    gu.version = g2.version
    gu.name = gcre.name
    gu.description = "updated"
    g3 = groups.put_group(g.id, body=gu)
    check(g3.description == "updated" and g3.version == 3, "put_group")

    # ---- SCIM users and groups (same data as the native API)
    su = gc.ScimV2CreateUser()
    su.schemas = ["urn:ietf:params:scim:schemas:core:2.0:User"]
    su.user_name = f"scim-{tag}@example.com"
    su.display_name = "Scim Sdk"
    su.active = True
    su.external_id = f"ext-{tag}"
    created = scim.post_scim_v2_users(su)
    check(isinstance(created, gc.ScimV2User) and created.user_name == su.user_name, "post_scim_v2_users")
    check(created.meta.version == '"1"', f"meta.version is the quoted version: {created.meta.version}")
    native = users.get_user(created.id)
    check(native.email == su.user_name and native.name == "Scim Sdk", "SCIM user visible natively")
    found = scim.get_scim_v2_users(filter=f"userName eq {su.user_name}")
    check(found.total_results == 1 and found.resources[0].id == created.id, "SCIM eq filter, unquoted value")
    op = gc.ScimV2PatchOperation()
    op.op = "replace"
    op.path = "title"
    op.value = "Scim Title"
    pr = gc.ScimV2PatchRequest()
    pr.schemas = ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
    pr.operations = [op]
    patched = scim.patch_scim_v2_user(created.id, pr, if_match='"1"')
    check(patched.title == "Scim Title" and patched.meta.version == '"2"', "patch_scim_v2_user")
    expect_status(409, scim.patch_scim_v2_user, created.id, pr, if_match='"1"')
    check(scim.get_scim_v2_user(created.id).title == "Scim Title", "get_scim_v2_user")
    sg = scim.get_scim_v2_groups(filter=f'displayName eq "{gcre.name}"')
    check(sg.total_results == 1 and sg.resources[0].id == g.id, "SCIM group filter")
    gop = gc.ScimV2PatchOperation()
    gop.op = "add"
    gop.path = "members"
    gop.value = [{"value": created.id}]
    gpr = gc.ScimV2PatchRequest()
    gpr.schemas = ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
    gpr.operations = [gop]
    sgp = scim.patch_scim_v2_group(g.id, gpr)
    check(isinstance(sgp, gc.ScimV2Group) and len(sgp.members) == 2, "patch_scim_v2_group adds a member")
    check(groups.get_group(g.id).member_count == 2, "SCIM membership visible natively")
    scim.delete_scim_v2_user(created.id)
    expect_status(404, scim.get_scim_v2_user, created.id)
    groups.delete_group_members(g.id, u.id)
    check(groups.get_group(g.id).member_count == 1, "delete_group_members")

    # ---- OAuth clients
    roles = authz.get_authorization_roles()
    role = roles.entities[0]
    home = authz.get_authorization_divisions_home()
    rd = gc.RoleDivision()
    rd.role_id = role.id
    rd.division_id = home.id
    ocr = gc.OAuthClientRequest()
    ocr.name = f"sdk-client-{tag}"
    ocr.authorized_grant_type = "CLIENT-CREDENTIALS"
    ocr.role_divisions = [rd]
    ocr.access_token_validity_seconds = 3600
    oc = oauth.post_oauth_clients(ocr)
    check(isinstance(oc, gc.OAuthClient) and oc.secret and oc.state == "active", "post_oauth_clients returns the secret")
    check(oauth.get_oauth_client(oc.id).secret is None, "secret only on create")
    new_client = gc.api_client.ApiClient(host=base).get_client_credentials_token(oc.id, oc.secret)
    check(gc.UsersApi(new_client).get_users().total >= 1, "the new client logs in and calls the API")
    rotated = oauth.post_oauth_client_secret(oc.id)
    check(rotated.secret and rotated.secret != oc.secret, "secret rotation")
    expect_status(400, oauth.delete_oauth_client, oc.id)
    ocr.state = "inactive"
    check(oauth.put_oauth_client(oc.id, ocr).state == "inactive", "put_oauth_client")
    oauth.delete_oauth_client(oc.id)
    expect_status(404, oauth.get_oauth_client, oc.id)
    scopes = oauth.get_oauth_scopes()
    check(any(s.id == "users" for s in scopes.entities), "get_oauth_scopes")

    print(f"sdk-compat: {CHECKS} checks passed")


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, ApiException) as e:
        print(f"sdk-compat: FAILED after {CHECKS} checks: {e}", file=sys.stderr)
        sys.exit(1)
