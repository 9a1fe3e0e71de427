//! Built-in schema definitions: RFC 7643 section 8.7 (User, Group, EnterpriseUser and the
//! meta-schemas ServiceProviderConfig, ResourceType, Schema) and the Genesys Cloud extension
//! (`../shared/reference/genesys-api.md` section 6.5).
//!
//! Each definition is built once on first use and shared (`&'static`).

use std::sync::LazyLock;

use super::{
    Attribute, Mutability, ResourceSchema, ResourceType, Returned, Schema, SchemaExtension,
    Uniqueness,
};

/// Core User schema URN.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Genesys Cloud User extension URN.
pub const GENESYS_USER: &str = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";
/// ServiceProviderConfig schema URN.
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// ResourceType schema URN.
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema schema URN.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

use Mutability::{Immutable, WriteOnly};

fn s(name: &str) -> Attribute {
    Attribute::string(name)
}

/// `value`/`display`/`type`/`primary` multi-valued complex attribute (RFC 7643 2.4).
fn multi_complex(name: &str, desc: &str, value: Attribute, types: &[&str]) -> Attribute {
    Attribute::complex(
        name,
        vec![
            value,
            s("display").desc("A human-readable name, primarily used for display purposes."),
            s("type")
                .canonical(types)
                .desc("A label indicating the attribute's function."),
            Attribute::boolean("primary")
                .desc("Indicates the 'primary' or preferred attribute value."),
        ],
    )
    .multi()
    .desc(desc)
}

/// `id`, `externalId`, `meta` (RFC 7643 3.1).
pub(crate) static COMMON: LazyLock<Vec<Attribute>> = LazyLock::new(|| {
    vec![
        s("id")
            .case_exact()
            .read_only()
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server)
            .desc("Unique identifier for the SCIM resource as defined by the service provider."),
        s("externalId")
            .case_exact()
            .desc("Identifier of the resource as defined by the provisioning client."),
        Attribute::complex(
            "meta",
            vec![
                s("resourceType").case_exact().read_only(),
                Attribute::date_time("created").read_only(),
                Attribute::date_time("lastModified").read_only(),
                Attribute::reference("location", &["uri"])
                    .case_exact()
                    .read_only(),
                s("version").case_exact().read_only(),
            ],
        )
        .read_only()
        .desc("Resource metadata."),
    ]
});

static USER_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema {
    id: USER.into(),
    name: "User".into(),
    description: "User Account".into(),
    attributes: vec![
        s("userName")
            .required()
            .uniqueness(Uniqueness::Server)
            .desc("Unique identifier for the User, typically used by the user to directly authenticate. In Genesys Cloud: the user's email."),
        Attribute::complex(
            "name",
            vec![
                s("formatted").desc("The full name, formatted for display."),
                s("familyName").desc("The family name of the User."),
                s("givenName").desc("The given name of the User."),
                s("middleName").desc("The middle name(s) of the User."),
                s("honorificPrefix").desc("The honorific prefix(es) of the User."),
                s("honorificSuffix").desc("The honorific suffix(es) of the User."),
            ],
        )
        .desc("The components of the user's real name."),
        s("displayName").desc("The name of the User, suitable for display to end-users."),
        s("nickName").desc("The casual way to address the user."),
        Attribute::reference("profileUrl", &["external"]).desc("A fully qualified URL pointing to a page representing the User's online profile."),
        s("title").desc("The user's title, such as \"Vice President\"."),
        s("userType").desc("Used to identify the relationship between the organization and the user."),
        s("preferredLanguage").desc("Indicates the User's preferred written or spoken language."),
        s("locale").desc("Used to indicate the User's default location for localizing items."),
        s("timezone").desc("The User's time zone in the 'Olson' time zone database format."),
        Attribute::boolean("active").desc("A Boolean value indicating the User's administrative status."),
        s("password")
            .mutability(WriteOnly)
            .returned(Returned::Never)
            .desc("The User's cleartext password, write-only."),
        multi_complex(
            "emails",
            "Email addresses for the user.",
            s("value").desc("Email addresses for the user."),
            &["work", "home", "other"],
        ),
        multi_complex(
            "phoneNumbers",
            "Phone numbers for the User.",
            s("value").desc("Phone number of the User."),
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        multi_complex(
            "ims",
            "Instant messaging addresses for the User.",
            s("value").desc("Instant messaging address for the User."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        multi_complex(
            "photos",
            "URLs of photos of the User.",
            Attribute::reference("value", &["external"]).desc("URL of a photo of the User."),
            &["photo", "thumbnail"],
        ),
        Attribute::complex(
            "addresses",
            vec![
                s("formatted"),
                s("streetAddress"),
                s("locality"),
                s("region"),
                s("postalCode"),
                s("country"),
                s("type").canonical(&["work", "home", "other"]),
                Attribute::boolean("primary"),
            ],
        )
        .multi()
        .desc("A physical mailing address for this User."),
        Attribute::complex(
            "groups",
            vec![
                s("value").read_only().desc("The identifier of the User's group."),
                Attribute::reference("$ref", &["User", "Group"]).read_only(),
                s("display").read_only(),
                s("type").read_only().canonical(&["direct", "indirect"]),
            ],
        )
        .multi()
        .read_only()
        .desc("A list of groups to which the user belongs. Read-only: change membership through Groups."),
        multi_complex("entitlements", "A list of entitlements for the User.", s("value"), &[]),
        multi_complex(
            "roles",
            "A list of roles for the User. In Genesys Cloud the value is the role name.",
            s("value"),
            &[],
        ),
        multi_complex(
            "x509Certificates",
            "A list of certificates issued to the User.",
            Attribute::binary("value"),
            &[],
        ),
    ],
}
});

static GROUP_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: GROUP.into(),
    name: "Group".into(),
    description: "Group".into(),
    attributes: vec![
        s("displayName")
            .required()
            .desc("A human-readable name for the Group."),
        Attribute::complex(
            "members",
            vec![
                s("value")
                    .mutability(Immutable)
                    .desc("Identifier of the member of this Group."),
                Attribute::reference("$ref", &["User", "Group"])
                    .mutability(Immutable)
                    .desc(
                        "The URI corresponding to a SCIM resource that is a member of this Group.",
                    ),
                s("type")
                    .mutability(Immutable)
                    .canonical(&["User", "Group"])
                    .desc("A label indicating the type of resource, e.g., 'User' or 'Group'."),
                s("display").desc("A human-readable name of the member."),
            ],
        )
        .multi()
        .desc("A list of members of the Group."),
    ],
});

static ENTERPRISE_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: ENTERPRISE_USER.into(),
    name: "EnterpriseUser".into(),
    description: "Enterprise User".into(),
    attributes: vec![
        s("employeeNumber").desc("Numeric or alphanumeric identifier assigned to a person."),
        s("costCenter").desc("Identifies the name of a cost center."),
        s("organization").desc("Identifies the name of an organization."),
        s("division")
            .desc("Identifies the name of a division. In Genesys Cloud: the division name."),
        s("department").desc("Identifies the name of a department."),
        // Not in RFC 7643: Genesys Cloud's enterprise extension carries the hire date as
        // "YYYY-MM-DD" (genesys-api.md 6.5), so it is a string, not a dateTime.
        s("dateHire")
            .desc("Hire date, YYYY-MM-DD (Genesys Cloud addition to the enterprise extension)."),
        Attribute::complex(
            "manager",
            vec![
                s("value").desc("The id of the SCIM resource representing the User's manager."),
                Attribute::reference("$ref", &["User"])
                    .desc("The URI of the SCIM resource representing the User's manager."),
                s("displayName")
                    .read_only()
                    .desc("The displayName of the User's manager."),
            ],
        )
        .desc("The User's manager."),
    ],
});

static GENESYS_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let proficiency_pair = |name: &str, desc: &str| {
        Attribute::complex(
            name,
            vec![
                s("name")
                    .required()
                    .case_exact()
                    .desc("Name as defined in Genesys Cloud (case-sensitive)."),
                Attribute::decimal("proficiency").desc("Proficiency from 0.0 to 5.0."),
            ],
        )
        .multi()
        .desc(desc)
    };
    Schema {
        id: GENESYS_USER.into(),
        name: "GenesysUser".into(),
        description: "Genesys Cloud user extension".into(),
        attributes: vec![
            proficiency_pair("routingSkills", "Routing skills of the user (at most 50)."),
            proficiency_pair("routingLanguages", "Routing languages of the user (at most 50)."),
            Attribute::complex(
                "externalIds",
                vec![
                    s("authority").required().case_exact().desc("The authority of the external identifier."),
                    s("value").required().case_exact().desc("The external identifier."),
                ],
            )
            .multi()
            .desc("External identifiers. Always includes an immutable SCIM authority prefixed with x-pc:scimv2:v1."),
        ],
    }
});

static SPC_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let supported = || Attribute::boolean("supported").required().read_only();
    let feature = |name: &str| {
        Attribute::complex(name, vec![supported()])
            .required()
            .read_only()
    };
    Schema {
        id: SERVICE_PROVIDER_CONFIG.into(),
        name: "Service Provider Configuration".into(),
        description: "Schema for representing the service provider's configuration".into(),
        attributes: vec![
            Attribute::reference("documentationUri", &["external"]).read_only(),
            feature("patch"),
            Attribute::complex(
                "bulk",
                vec![
                    supported(),
                    Attribute::integer("maxOperations").required().read_only(),
                    Attribute::integer("maxPayloadSize").required().read_only(),
                ],
            )
            .required()
            .read_only(),
            Attribute::complex(
                "filter",
                vec![
                    supported(),
                    Attribute::integer("maxResults").required().read_only(),
                ],
            )
            .required()
            .read_only(),
            feature("changePassword"),
            feature("sort"),
            feature("etag"),
            Attribute::complex(
                "authenticationSchemes",
                vec![
                    s("type").required().read_only(),
                    s("name").required().read_only(),
                    s("description").required().read_only(),
                    Attribute::reference("specUri", &["external"]).read_only(),
                    Attribute::reference("documentationUri", &["external"]).read_only(),
                    Attribute::boolean("primary").read_only(),
                ],
            )
            .multi()
            .required()
            .read_only(),
        ],
    }
});

static RESOURCE_TYPE_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: RESOURCE_TYPE.into(),
    name: "ResourceType".into(),
    description: "Specifies the schema that describes a SCIM resource type".into(),
    attributes: vec![
        s("id").read_only(),
        s("name").required().read_only(),
        s("description").read_only(),
        Attribute::reference("endpoint", &["uri"])
            .required()
            .read_only(),
        Attribute::reference("schema", &["uri"])
            .required()
            .case_exact()
            .read_only(),
        Attribute::complex(
            "schemaExtensions",
            vec![
                Attribute::reference("schema", &["uri"])
                    .required()
                    .case_exact()
                    .read_only(),
                Attribute::boolean("required").required().read_only(),
            ],
        )
        .multi()
        .read_only(),
    ],
});

static SCHEMA_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let attr_fields = |with_subs: bool| {
        let mut v = vec![
            s("name").required().case_exact().read_only(),
            s("type").required().read_only().canonical(&[
                "string",
                "complex",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "reference",
                "binary",
            ]),
            Attribute::boolean("multiValued").required().read_only(),
            s("description").read_only(),
            Attribute::boolean("required").read_only(),
            s("canonicalValues").multi().case_exact().read_only(),
            Attribute::boolean("caseExact").read_only(),
            s("mutability").case_exact().read_only().canonical(&[
                "readOnly",
                "readWrite",
                "immutable",
                "writeOnly",
            ]),
            s("returned")
                .case_exact()
                .read_only()
                .canonical(&["always", "never", "default", "request"]),
            s("uniqueness")
                .case_exact()
                .read_only()
                .canonical(&["none", "server", "global"]),
            s("referenceTypes").multi().case_exact().read_only(),
        ];
        if with_subs {
            v.push(
                Attribute::complex("subAttributes", Vec::new())
                    .multi()
                    .read_only(),
            );
        }
        v
    };
    let mut sub_attrs = Attribute::complex("subAttributes", attr_fields(false))
        .multi()
        .read_only();
    sub_attrs.description = "Used to define the sub-attributes of a complex attribute.".into();
    let mut fields = attr_fields(false);
    fields.push(sub_attrs);
    Schema {
        id: SCHEMA.into(),
        name: "Schema".into(),
        description: "Specifies the schema attribute and sub-attribute definitions".into(),
        attributes: vec![
            s("id").required().case_exact().read_only(),
            s("name").read_only(),
            s("description").read_only(),
            Attribute::complex("attributes", fields)
                .multi()
                .required()
                .read_only(),
        ],
    }
});

/// Core User schema.
pub fn user() -> &'static Schema {
    &USER_SCHEMA
}
/// Core Group schema.
pub fn group() -> &'static Schema {
    &GROUP_SCHEMA
}
/// Enterprise User extension.
pub fn enterprise_user() -> &'static Schema {
    &ENTERPRISE_SCHEMA
}
/// Genesys Cloud User extension.
pub fn genesys_user() -> &'static Schema {
    &GENESYS_SCHEMA
}
/// ServiceProviderConfig meta-schema.
pub fn service_provider_config() -> &'static Schema {
    &SPC_SCHEMA
}
/// ResourceType meta-schema.
pub fn resource_type() -> &'static Schema {
    &RESOURCE_TYPE_SCHEMA
}
/// Schema meta-schema.
pub fn schema() -> &'static Schema {
    &SCHEMA_SCHEMA
}

/// All built-in schemas, in the order `/Schemas` lists them.
pub fn all() -> Vec<&'static Schema> {
    vec![
        user(),
        group(),
        enterprise_user(),
        genesys_user(),
        service_provider_config(),
        resource_type(),
        schema(),
    ]
}

static USER_RESOURCE: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    resource_type: ResourceType {
        id: "User".into(),
        name: "User".into(),
        description: "User Account".into(),
        endpoint: "/Users".into(),
        schema: USER.into(),
        schema_extensions: vec![
            SchemaExtension {
                schema: ENTERPRISE_USER.into(),
                required: false,
            },
            SchemaExtension {
                schema: GENESYS_USER.into(),
                required: false,
            },
        ],
    },
    core: user().clone(),
    extensions: vec![enterprise_user().clone(), genesys_user().clone()],
});

static GROUP_RESOURCE: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    resource_type: ResourceType {
        id: "Group".into(),
        name: "Group".into(),
        description: "Group".into(),
        endpoint: "/Groups".into(),
        schema: GROUP.into(),
        schema_extensions: Vec::new(),
    },
    core: group().clone(),
    extensions: Vec::new(),
});

/// The User resource type: core User + Enterprise + Genesys extensions.
pub fn user_resource() -> &'static ResourceSchema {
    &USER_RESOURCE
}

/// The Group resource type.
pub fn group_resource() -> &'static ResourceSchema {
    &GROUP_RESOURCE
}
