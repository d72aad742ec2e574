//! Wire layouts of the request bodies the broker accepts, as the [`crate::guard`] walk needs
//! them: which fields exist in which versions, and their wire types. Transcribed from the
//! Kafka message definitions as `kafka-protocol` 0.18 decodes them; only lengths and counts
//! matter to the walk, so nullability and field names are left out.

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

/// A field present in versions `min..=max`.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) ty: Ty,
    pub(crate) min: i16,
    pub(crate) max: i16,
}

/// A struct: its fields in wire order and the tagged fields the decoder knows by number.
#[derive(Debug)]
pub(crate) struct Struct {
    pub(crate) fields: &'static [Field],
    pub(crate) tags: &'static [(u32, Ty)],
}

const ANY: i16 = i16::MAX;

/// A field in every version.
const fn all(ty: Ty) -> Field {
    Field {
        ty,
        min: 0,
        max: ANY,
    }
}

/// A field from version `min` on.
const fn from(min: i16, ty: Ty) -> Field {
    Field { ty, min, max: ANY }
}

/// A field in versions `min..=max`.
const fn range(min: i16, max: i16, ty: Ty) -> Field {
    Field { ty, min, max }
}

const fn obj(fields: &'static [Field]) -> Struct {
    Struct { fields, tags: &[] }
}

pub(crate) static API_VERSIONS: Struct = obj(&[from(3, Ty::Str), from(3, Ty::Str)]);

static METADATA_TOPIC: Struct = obj(&[from(10, Ty::Uuid), all(Ty::Str)]);
pub(crate) static METADATA: Struct = obj(&[
    all(Ty::Arr(&Ty::Obj(&METADATA_TOPIC))),
    from(4, Ty::Bool),
    range(8, 10, Ty::Bool),
    from(8, Ty::Bool),
]);

static PRODUCE_PARTITION: Struct = obj(&[all(Ty::I32), all(Ty::Bytes)]);
static PRODUCE_TOPIC: Struct = obj(&[
    range(0, 12, Ty::Str),
    from(13, Ty::Uuid),
    all(Ty::Arr(&Ty::Obj(&PRODUCE_PARTITION))),
]);
pub(crate) static PRODUCE: Struct = obj(&[
    from(3, Ty::Str),
    all(Ty::I16),
    all(Ty::I32),
    all(Ty::Arr(&Ty::Obj(&PRODUCE_TOPIC))),
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
    tags: &[(0, Ty::Str)],
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
static CREATE_CONFIG: Struct = obj(&[all(Ty::Str), all(Ty::Str)]);
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
    from(5, Ty::Str),
    all(Ty::Str),
    all(Ty::Arr(&Ty::Obj(&JOIN_PROTOCOL))),
    from(8, Ty::Str),
]);

static SYNC_ASSIGNMENT: Struct = obj(&[all(Ty::Str), all(Ty::Bytes)]);
pub(crate) static SYNC_GROUP: Struct = obj(&[
    all(Ty::Str),
    all(Ty::I32),
    all(Ty::Str),
    from(3, Ty::Str),
    from(5, Ty::Str),
    from(5, Ty::Str),
    all(Ty::Arr(&Ty::Obj(&SYNC_ASSIGNMENT))),
]);

pub(crate) static HEARTBEAT: Struct =
    obj(&[all(Ty::Str), all(Ty::I32), all(Ty::Str), from(3, Ty::Str)]);

static LEAVE_MEMBER: Struct = obj(&[from(3, Ty::Str), from(3, Ty::Str), from(5, Ty::Str)]);
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
    all(Ty::Str),
]);
static COMMIT_TOPIC: Struct = obj(&[all(Ty::Str), all(Ty::Arr(&Ty::Obj(&COMMIT_PARTITION)))]);
pub(crate) static OFFSET_COMMIT: Struct = obj(&[
    all(Ty::Str),
    from(1, Ty::I32),
    from(1, Ty::Str),
    from(7, Ty::Str),
    range(2, 4, Ty::I64),
    all(Ty::Arr(&Ty::Obj(&COMMIT_TOPIC))),
]);

static FETCH_OFFSETS_TOPIC: Struct = obj(&[range(0, 7, Ty::Str), range(0, 7, Ty::Arr(&Ty::I32))]);
pub(crate) static OFFSET_FETCH: Struct = obj(&[
    range(0, 7, Ty::Str),
    range(0, 7, Ty::Arr(&Ty::Obj(&FETCH_OFFSETS_TOPIC))),
    from(7, Ty::Bool),
]);
