//! Wire layouts of the request bodies the broker accepts, as the [`crate::guard`] walk needs
//! them: which fields exist in which versions, and their wire types. Transcribed from the
//! Kafka message definitions as `kafka-protocol` 0.18 decodes them. The walk needs lengths,
//! counts and nullability (a `-1` length is only valid where the definition says
//! `nullableVersions`); field names are left out.
//!
//! From the layouts it also derives, per type, the fewest bytes an element can take on the wire
//! ([`min_wire`]) and an upper bound on the memory its decoded form takes ([`mem_size`]), which
//! is what bounds an array's `Vec::with_capacity(count)` in the decoder.

/// A wire type. Strings, bytes and arrays are compact (varint length + 1) in flexible
/// versions and classic (i16 / i32 length) otherwise.
#[derive(Debug)]
pub(crate) enum Ty {
    I8,
    Bool,
    I16,
    I32,
    I64,
    Uuid,
    Str,
    Bytes,
    Arr(&'static Ty),
    Obj(&'static Struct),
}

/// A field present in versions `min..=max`, nullable (string, bytes or array) from version
/// `null_from` on.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) ty: Ty,
    pub(crate) min: i16,
    pub(crate) max: i16,
    pub(crate) null_from: i16,
}

impl Field {
    /// Whether the field exists in `version`.
    pub(crate) fn present(&self, version: i16) -> bool {
        version >= self.min && version <= self.max
    }

    /// Whether a `-1` (null) length is valid for the field in `version`.
    pub(crate) fn nullable(&self, version: i16) -> bool {
        version >= self.null_from
    }
}

/// A struct: its fields in wire order and the tagged fields the decoder knows by number.
#[derive(Debug)]
pub(crate) struct Struct {
    pub(crate) fields: &'static [Field],
    pub(crate) tags: &'static [(u32, Field)],
}

const ANY: i16 = i16::MAX;

/// A non-nullable field in every version.
const fn all(ty: Ty) -> Field {
    range(0, ANY, ty)
}

/// A non-nullable field from version `min` on.
const fn from(min: i16, ty: Ty) -> Field {
    range(min, ANY, ty)
}

/// A non-nullable field in versions `min..=max`.
const fn range(min: i16, max: i16, ty: Ty) -> Field {
    Field {
        ty,
        min,
        max,
        null_from: ANY,
    }
}

/// `f`, nullable from version `v` on.
const fn null_from(v: i16, f: Field) -> Field {
    Field { null_from: v, ..f }
}

/// The fewest bytes an element of `ty` takes on the wire in `version`: empty strings, bytes and
/// arrays cost only their length prefix, structs the sum of their present fields plus, when
/// flexible, the one-byte empty tag section.
pub(crate) fn min_wire(ty: &Ty, version: i16, flexible: bool) -> usize {
    let prefix = |classic: usize| if flexible { 1 } else { classic };
    match ty {
        Ty::I8 | Ty::Bool => 1,
        Ty::I16 => 2,
        Ty::I32 => 4,
        Ty::I64 => 8,
        Ty::Uuid => 16,
        Ty::Str => prefix(2),
        Ty::Bytes | Ty::Arr(_) => prefix(4),
        Ty::Obj(s) => {
            let fields: usize = s
                .fields
                .iter()
                .filter(|f| f.present(version))
                .map(|f| min_wire(&f.ty, version, flexible))
                .sum();
            fields + usize::from(flexible)
        }
    }
}

/// Memory of a `Bytes`/`StrBytes` (and their `Option`s) or a `Vec` header, as decoded structs
/// hold them; checked against `size_of` in the tests.
const BYTES_MEM: usize = 32;
const VEC_MEM: usize = 24;
/// The `BTreeMap` of unknown tagged fields every decoded struct carries.
const TAG_MAP_MEM: usize = 24;
/// Decoded structs also hold fields of versions newer than the broker accepts (a topic id, a
/// replica directory id), which the layouts here leave out.
const NEWER_FIELDS_MEM: usize = 32;
/// Upper bound on one unknown tagged field once stored in that map (key, `Bytes`, node share).
pub(crate) const TAG_ENTRY_MEM: usize = 64;

/// An upper bound on the memory one decoded element of `ty` occupies inside its `Vec` (what
/// `Vec::with_capacity(count)` reserves per element). Struct fields of every version count and
/// each is rounded up to 8 bytes, which covers any padding Rust's layout adds.
pub(crate) fn mem_size(ty: &Ty) -> usize {
    match ty {
        Ty::I8 | Ty::Bool => 1,
        Ty::I16 => 2,
        Ty::I32 => 4,
        Ty::I64 => 8,
        Ty::Uuid => 16,
        Ty::Str | Ty::Bytes => BYTES_MEM,
        Ty::Arr(_) => VEC_MEM,
        Ty::Obj(s) => {
            let fields: usize = s
                .fields
                .iter()
                .map(|f| mem_size(&f.ty).next_multiple_of(8))
                .sum();
            fields + TAG_MAP_MEM + NEWER_FIELDS_MEM
        }
    }
}

const fn obj(fields: &'static [Field]) -> Struct {
    Struct { fields, tags: &[] }
}

pub(crate) static API_VERSIONS: Struct = obj(&[from(3, Ty::Str), from(3, Ty::Str)]);

static METADATA_TOPIC: Struct = obj(&[from(10, Ty::Uuid), null_from(10, all(Ty::Str))]);
pub(crate) static METADATA: Struct = obj(&[
    null_from(1, all(Ty::Arr(&Ty::Obj(&METADATA_TOPIC)))),
    from(4, Ty::Bool),
    range(8, 10, Ty::Bool),
    from(8, Ty::Bool),
]);

static PRODUCE_PARTITION: Struct = obj(&[all(Ty::I32), null_from(0, all(Ty::Bytes))]);
static PRODUCE_TOPIC: Struct = obj(&[
    range(0, 12, Ty::Str),
    from(13, Ty::Uuid),
    all(Ty::Arr(&Ty::Obj(&PRODUCE_PARTITION))),
]);
pub(crate) static PRODUCE: Struct = obj(&[
    null_from(3, from(3, Ty::Str)),
    all(Ty::I16),
    all(Ty::I32),
    all(Ty::Arr(&Ty::Obj(&PRODUCE_TOPIC))),
]);

pub(crate) static INIT_PRODUCER_ID: Struct = obj(&[
    null_from(0, all(Ty::Str)),
    all(Ty::I32),
    from(3, Ty::I64),
    from(3, Ty::I16),
]);

static FETCH_PARTITION: Struct = obj(&[
    all(Ty::I32),
    from(9, Ty::I32),
    all(Ty::I64),
    from(12, Ty::I32),
    from(5, Ty::I64),
    all(Ty::I32),
]);
static FETCH_TOPIC: Struct = obj(&[
    range(0, 12, Ty::Str),
    from(13, Ty::Uuid),
    all(Ty::Arr(&Ty::Obj(&FETCH_PARTITION))),
]);
static FETCH_FORGOTTEN: Struct = obj(&[
    range(7, 12, Ty::Str),
    from(13, Ty::Uuid),
    from(7, Ty::Arr(&Ty::I32)),
]);
pub(crate) static FETCH: Struct = Struct {
    fields: &[
        range(0, 14, Ty::I32),
        all(Ty::I32),
        all(Ty::I32),
        from(3, Ty::I32),
        from(4, Ty::I8),
        from(7, Ty::I32),
        from(7, Ty::I32),
        all(Ty::Arr(&Ty::Obj(&FETCH_TOPIC))),
        from(7, Ty::Arr(&Ty::Obj(&FETCH_FORGOTTEN))),
        from(11, Ty::Str),
    ],
    // cluster_id (tag 0) is decoded from the stream; tag 1 (replica state) only exists in
    // versions above what the broker advertises, where the decoder refuses it anyway.
    tags: &[(0, null_from(12, from(12, Ty::Str)))],
};

static LIST_OFFSETS_PARTITION: Struct = obj(&[
    all(Ty::I32),
    from(4, Ty::I32),
    all(Ty::I64),
    range(0, 0, Ty::I32),
]);
static LIST_OFFSETS_TOPIC: Struct = obj(&[
    all(Ty::Str),
    all(Ty::Arr(&Ty::Obj(&LIST_OFFSETS_PARTITION))),
]);
pub(crate) static LIST_OFFSETS: Struct = obj(&[
    all(Ty::I32),
    from(2, Ty::I8),
    all(Ty::Arr(&Ty::Obj(&LIST_OFFSETS_TOPIC))),
    from(10, Ty::I32),
]);

static CREATE_ASSIGNMENT: Struct = obj(&[all(Ty::I32), all(Ty::Arr(&Ty::I32))]);
static CREATE_CONFIG: Struct = obj(&[all(Ty::Str), null_from(0, all(Ty::Str))]);
static CREATE_TOPIC: Struct = obj(&[
    all(Ty::Str),
    all(Ty::I32),
    all(Ty::I16),
    all(Ty::Arr(&Ty::Obj(&CREATE_ASSIGNMENT))),
    all(Ty::Arr(&Ty::Obj(&CREATE_CONFIG))),
]);
pub(crate) static CREATE_TOPICS: Struct = obj(&[
    all(Ty::Arr(&Ty::Obj(&CREATE_TOPIC))),
    all(Ty::I32),
    from(1, Ty::Bool),
]);

pub(crate) static FIND_COORDINATOR: Struct = obj(&[
    range(0, 3, Ty::Str),
    from(1, Ty::I8),
    from(4, Ty::Arr(&Ty::Str)),
]);

static JOIN_PROTOCOL: Struct = obj(&[all(Ty::Str), all(Ty::Bytes)]);
pub(crate) static JOIN_GROUP: Struct = obj(&[
    all(Ty::Str),
    all(Ty::I32),
    from(1, Ty::I32),
    all(Ty::Str),
    null_from(5, from(5, Ty::Str)),
    all(Ty::Str),
    all(Ty::Arr(&Ty::Obj(&JOIN_PROTOCOL))),
    null_from(8, from(8, Ty::Str)),
]);

static SYNC_ASSIGNMENT: Struct = obj(&[all(Ty::Str), all(Ty::Bytes)]);
pub(crate) static SYNC_GROUP: Struct = obj(&[
    all(Ty::Str),
    all(Ty::I32),
    all(Ty::Str),
    null_from(3, from(3, Ty::Str)),
    null_from(5, from(5, Ty::Str)),
    null_from(5, from(5, Ty::Str)),
    all(Ty::Arr(&Ty::Obj(&SYNC_ASSIGNMENT))),
]);

pub(crate) static HEARTBEAT: Struct = obj(&[
    all(Ty::Str),
    all(Ty::I32),
    all(Ty::Str),
    null_from(3, from(3, Ty::Str)),
]);

static LEAVE_MEMBER: Struct = obj(&[
    from(3, Ty::Str),
    null_from(3, from(3, Ty::Str)),
    null_from(5, from(5, Ty::Str)),
]);
pub(crate) static LEAVE_GROUP: Struct = obj(&[
    all(Ty::Str),
    range(0, 2, Ty::Str),
    from(3, Ty::Arr(&Ty::Obj(&LEAVE_MEMBER))),
]);

static COMMIT_PARTITION: Struct = obj(&[
    all(Ty::I32),
    all(Ty::I64),
    from(6, Ty::I32),
    range(1, 1, Ty::I64),
    null_from(0, all(Ty::Str)),
]);
static COMMIT_TOPIC: Struct = obj(&[all(Ty::Str), all(Ty::Arr(&Ty::Obj(&COMMIT_PARTITION)))]);
pub(crate) static OFFSET_COMMIT: Struct = obj(&[
    all(Ty::Str),
    from(1, Ty::I32),
    from(1, Ty::Str),
    null_from(7, from(7, Ty::Str)),
    range(2, 4, Ty::I64),
    all(Ty::Arr(&Ty::Obj(&COMMIT_TOPIC))),
]);

static FETCH_OFFSETS_TOPIC: Struct = obj(&[range(0, 7, Ty::Str), range(0, 7, Ty::Arr(&Ty::I32))]);
pub(crate) static OFFSET_FETCH: Struct = obj(&[
    range(0, 7, Ty::Str),
    null_from(2, range(0, 7, Ty::Arr(&Ty::Obj(&FETCH_OFFSETS_TOPIC)))),
    from(7, Ty::Bool),
]);

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
