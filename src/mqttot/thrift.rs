//! The Thrift compact-protocol subset the MQTToT Connect payload needs (docs/instagram.md §9
//! "Thrift compact encoding"): a struct as an ordered list of fields, each a bool, byte, i16,
//! i32, i64, binary, `list<i32>` or nested struct. The encoding itself is Apache Thrift's
//! (`thrift` crate, `TCompactOutputProtocol` / `TCompactInputProtocol`): field headers with
//! deltas and long-form headers, zigzag varints, inlined booleans.
//!
//! Fields are written in the order given, so a caller can reproduce either wire order the
//! reference clients use; reading accepts any order and skips the types the payload never
//! carries (doubles, maps, sets, lists of anything but i32).

use thrift::protocol::{
    TCompactInputProtocol, TCompactOutputProtocol, TFieldIdentifier, TInputProtocol,
    TListIdentifier, TOutputProtocol, TStructIdentifier, TType,
};

/// One field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Binary(Vec<u8>),
    I32List(Vec<i32>),
    Struct(Vec<Field>),
    /// Read only: a field of a type this subset does not decode (skipped on the wire).
    Skipped,
}

/// A field: id and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub id: i16,
    pub value: Value,
}

impl Field {
    pub fn new(id: i16, value: Value) -> Field {
        Field { id, value }
    }
}

/// Why Thrift bytes could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ThriftError {
    #[error("invalid Thrift compact data: {0}")]
    Protocol(#[from] thrift::Error),
    #[error("a skipped field cannot be written")]
    Unwritable,
}

/// Deepest struct nesting read (the Connect payload has two levels).
const MAX_DEPTH: usize = 8;

/// A struct's fields, in order, as Thrift compact bytes (no message envelope).
pub fn write_struct(fields: &[Field]) -> Result<Vec<u8>, ThriftError> {
    let mut out = Vec::new();
    {
        let mut p = TCompactOutputProtocol::new(&mut out);
        write_fields(&mut p, fields)?;
    }
    Ok(out)
}

fn ttype(v: &Value) -> Result<TType, ThriftError> {
    Ok(match v {
        Value::Bool(_) => TType::Bool,
        Value::Byte(_) => TType::I08,
        Value::I16(_) => TType::I16,
        Value::I32(_) => TType::I32,
        Value::I64(_) => TType::I64,
        Value::Binary(_) => TType::String,
        Value::I32List(_) => TType::List,
        Value::Struct(_) => TType::Struct,
        Value::Skipped => return Err(ThriftError::Unwritable),
    })
}

fn write_fields(p: &mut dyn TOutputProtocol, fields: &[Field]) -> Result<(), ThriftError> {
    p.write_struct_begin(&TStructIdentifier::new(""))?;
    for f in fields {
        p.write_field_begin(&TFieldIdentifier::new::<Option<String>, String, i16>(
            None,
            ttype(&f.value)?,
            f.id,
        ))?;
        match &f.value {
            Value::Bool(b) => p.write_bool(*b)?,
            Value::Byte(b) => p.write_i8(*b)?,
            Value::I16(n) => p.write_i16(*n)?,
            Value::I32(n) => p.write_i32(*n)?,
            Value::I64(n) => p.write_i64(*n)?,
            Value::Binary(b) => p.write_bytes(b)?,
            Value::I32List(items) => {
                let size = i32::try_from(items.len()).map_err(|_| ThriftError::Unwritable)?;
                p.write_list_begin(&TListIdentifier::new(TType::I32, size))?;
                for n in items {
                    p.write_i32(*n)?;
                }
                p.write_list_end()?;
            }
            Value::Struct(inner) => write_fields(p, inner)?,
            Value::Skipped => return Err(ThriftError::Unwritable),
        }
        p.write_field_end()?;
    }
    p.write_field_stop()?;
    p.write_struct_end()?;
    Ok(())
}

/// Reads one struct from the start of `bytes` (trailing bytes are ignored). Every length and
/// count is bounded by the input size, so garbage cannot trigger a large allocation.
pub fn read_struct(bytes: &[u8]) -> Result<Vec<Field>, ThriftError> {
    let config = thrift::TConfiguration::builder()
        .max_string_size(Some(bytes.len()))
        .max_container_size(Some(bytes.len()))
        .max_recursion_depth(Some(MAX_DEPTH))
        .build()?;
    let mut p = TCompactInputProtocol::with_config(bytes, config);
    read_fields(&mut p, 0)
}

fn read_fields(p: &mut dyn TInputProtocol, depth: usize) -> Result<Vec<Field>, ThriftError> {
    p.read_struct_begin()?;
    let mut fields = Vec::new();
    loop {
        let header = p.read_field_begin()?;
        let Some(id) = header.id.filter(|_| header.field_type != TType::Stop) else {
            break;
        };
        let value = match header.field_type {
            TType::Bool => Value::Bool(p.read_bool()?),
            TType::I08 => Value::Byte(p.read_i8()?),
            TType::I16 => Value::I16(p.read_i16()?),
            TType::I32 => Value::I32(p.read_i32()?),
            TType::I64 => Value::I64(p.read_i64()?),
            TType::String => Value::Binary(p.read_bytes()?),
            TType::List => {
                let list = p.read_list_begin()?;
                if list.element_type == TType::I32 {
                    let mut items = Vec::new();
                    for _ in 0..list.size.max(0) {
                        items.push(p.read_i32()?);
                    }
                    p.read_list_end()?;
                    Value::I32List(items)
                } else {
                    for _ in 0..list.size.max(0) {
                        p.skip(list.element_type)?;
                    }
                    p.read_list_end()?;
                    Value::Skipped
                }
            }
            TType::Struct if depth + 1 < MAX_DEPTH => Value::Struct(read_fields(p, depth + 1)?),
            other => {
                p.skip(other)?;
                Value::Skipped
            }
        };
        p.read_field_end()?;
        fields.push(Field { id, value });
    }
    p.read_struct_end()?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn field_headers_varints_and_lists() {
        // Short headers with deltas, zigzag varints (docs/instagram.md §9 test vector pieces).
        let fields = vec![
            Field::new(1, Value::I64(0)),
            Field::new(3, Value::I64(183)),
            Field::new(4, Value::I64(128)),
            Field::new(5, Value::I32(1)),
            Field::new(6, Value::Bool(true)),
            Field::new(7, Value::Bool(false)),
            Field::new(12, Value::I64(1_234_567)),
            Field::new(14, Value::I32List(vec![76, 80, 231])),
            Field::new(16, Value::I64(567_310_203_415_052)),
            Field::new(26, Value::I64(-1)),
            Field::new(21, Value::Byte(3)),
        ];
        let bytes = write_struct(&fields).expect("writes");
        assert_eq!(
            bytes,
            hex("16 00 26 ee 02 16 80 02 15 02 11 12 56 8e da 96 01
                 29 35 98 01 a0 01 ce 03 26 98 a8 b7 b2 e6 fd 81 02
                 a6 01 03 2a 03 00")
        );
        assert_eq!(read_struct(&bytes).expect("reads"), fields);
    }

    #[test]
    fn long_lists_nested_structs_and_skipped_types() {
        let long: Vec<i32> = (0..20).collect();
        let fields = vec![
            Field::new(2, Value::I32List(long.clone())),
            Field::new(
                4,
                Value::Struct(vec![Field::new(1, Value::Binary(b"x".to_vec()))]),
            ),
            Field::new(5, Value::Binary(vec![])),
            Field::new(300, Value::I16(-2)),
        ];
        let bytes = write_struct(&fields).expect("writes");
        assert_eq!(bytes[..2], [0x29, 0xf5], "list header with a separate size");
        assert_eq!(read_struct(&bytes).expect("reads"), fields);
        // A map (type 11) and a double (type 7) are skipped, the fields after them still read.
        let with_map = hex("1b 01 88 01 61 01 62 17 00 00 00 00 00 00 f0 3f 15 04 00");
        assert_eq!(
            read_struct(&with_map).expect("reads"),
            vec![
                Field::new(1, Value::Skipped),
                Field::new(2, Value::Skipped),
                Field::new(3, Value::I32(2)),
            ]
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            &[0x18],
            &[0x18, 0xff, 0xff, 0xff, 0xff, 0x0f],
            &[0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07],
            &[
                0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c,
            ],
            &[0x0d],
        ] {
            assert!(read_struct(bad).is_err(), "{bad:02x?}");
        }
    }
}
