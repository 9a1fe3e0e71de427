//! gcprov-emulator
