//! Request bodies in Kubernetes' protobuf encoding, read into the JSON the
//! rest of the API takes. kubectl's typed commands (`create job
//! --from=cronjob/…`, `create configmap`, `create secret`, `create cronjob`)
//! send nothing else, nor do `create serviceaccount|role|rolebinding|quota|token`
//! and `auth can-i|whoami`.
//!
//! The encoding is the magic `k8s\0` and a `runtime.Unknown` whose `typeMeta`
//! names the kind and whose `raw` is the object; the object's fields are
//! numbered as `schema` lists. Zero values a Go struct always carries
//! (empty strings, `false`) are left out, as Kubernetes' JSON leaves them
//! out; numbers are kept, since an optional number that is set (a
//! `backoffLimit: 0`) matters.

mod schema;

use base64::Engine as _;
use serde_json::{Map, Value};

/// A message: its fields by number, with their JSON names and types.
type Msg = &'static [(u32, &'static str, Ty)];

/// How a field is read.
#[derive(Debug)]
enum Ty {
    Str,
    /// A string kept when empty: a list item such as the core group `""`
    /// among a rule's `apiGroups`.
    Text,
    Bytes,
    Int,
    /// A number that is not optional in Go: zero is its absence.
    IntOmitZero,
    Bool,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    MapStr,
    MapBytes,
    MapQuantity,
    Msg(Msg),
    /// A message whose fields are the parent's in JSON (`Volume`'s source).
    Inline(Msg),
    List(&'static Ty),
}

/// The magic that starts a protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Reads a protobuf request body into its JSON object.
pub(super) fn decode(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with Kubernetes' protobuf magic")?;
    let mut type_meta = Map::new();
    let mut raw: &[u8] = &[];
    let mut reader = Reader(envelope);
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, 2) => {
                const TYPE_META: Msg = &[(1, "apiVersion", Ty::Str), (2, "kind", Ty::Str)];
                message(reader.bytes()?, TYPE_META, &mut type_meta)?;
            }
            (2, 2) => raw = reader.bytes()?,
            _ => reader.skip(wire)?,
        }
    }
    let kind = type_meta.get("kind").and_then(Value::as_str).unwrap_or("");
    let schema = match kind {
        "Job" => schema::JOB,
        "CronJob" => schema::CRON_JOB,
        "DaemonSet" => schema::DAEMON_SET,
        "ConfigMap" => schema::CONFIG_MAP,
        "Secret" => schema::SECRET,
        "Namespace" => schema::NAMESPACE,
        "ServiceAccount" => schema::SERVICE_ACCOUNT,
        "Role" | "ClusterRole" => schema::ROLE,
        "RoleBinding" | "ClusterRoleBinding" => schema::ROLE_BINDING,
        "ResourceQuota" => schema::RESOURCE_QUOTA,
        "LimitRange" => schema::LIMIT_RANGE,
        "TokenRequest" => schema::TOKEN_REQUEST,
        "SelfSubjectAccessReview" => schema::SELF_SUBJECT_ACCESS_REVIEW,
        "SelfSubjectRulesReview" => schema::SELF_SUBJECT_RULES_REVIEW,
        "SelfSubjectReview" => schema::SELF_SUBJECT_REVIEW,
        other => {
            return Err(format!(
                "a {other:?} in protobuf is not read: send it as JSON"
            ));
        }
    };
    let mut object = Map::new();
    object.extend(type_meta);
    message(raw, schema, &mut object)?;
    Ok(Value::Object(object))
}

/// Reads the fields of one message into `out`.
fn message(bytes: &[u8], schema: Msg, out: &mut Map<String, Value>) -> Result<(), String> {
    let mut reader = Reader(bytes);
    while let Some((number, wire)) = reader.key()? {
        let Some((_, name, ty)) = schema.iter().find(|(n, _, _)| *n == number) else {
            reader.skip(wire)?;
            continue;
        };
        match ty {
            Ty::List(item) => {
                let list = out.entry(*name).or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else {
                    return Err(format!("{name}: a list and a value"));
                };
                if matches!(item, Ty::Int) && wire == 2 {
                    // Packed numbers.
                    let mut packed = Reader(reader.bytes()?);
                    while !packed.0.is_empty() {
                        list.push(Value::from(packed.varint()? as i64));
                    }
                } else if let Some(value) = single(&mut reader, wire, item)? {
                    list.push(value);
                }
            }
            Ty::Inline(inner) => message(reader.bytes()?, inner, out)?,
            Ty::MapStr | Ty::MapBytes | Ty::MapQuantity => {
                let (key, value) = entry(reader.bytes()?, ty)?;
                let map = out
                    .entry(*name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(key, value);
                }
            }
            _ => {
                if let Some(value) = single(&mut reader, wire, ty)? {
                    out.insert((*name).to_owned(), value);
                }
            }
        }
    }
    Ok(())
}

/// One value of a field; none for a Go zero value JSON leaves out.
fn single(reader: &mut Reader<'_>, wire: u8, ty: &Ty) -> Result<Option<Value>, String> {
    let expect = |want: u8| {
        if wire == want {
            Ok(())
        } else {
            Err(format!("a field of type {ty:?} came with wire type {wire}"))
        }
    };
    Ok(match ty {
        Ty::Int => {
            expect(0)?;
            Some(Value::from(reader.varint()? as i64))
        }
        Ty::IntOmitZero => {
            expect(0)?;
            Some(reader.varint()? as i64)
                .filter(|&n| n != 0)
                .map(Value::from)
        }
        Ty::Bool => {
            expect(0)?;
            (reader.varint()? != 0).then_some(Value::Bool(true))
        }
        Ty::Str => {
            expect(2)?;
            let text = std::str::from_utf8(reader.bytes()?).map_err(|e| e.to_string())?;
            (!text.is_empty()).then(|| Value::from(text))
        }
        Ty::Text => {
            expect(2)?;
            let text = std::str::from_utf8(reader.bytes()?).map_err(|e| e.to_string())?;
            Some(Value::from(text))
        }
        Ty::Bytes => {
            expect(2)?;
            Some(Value::from(
                base64::engine::general_purpose::STANDARD.encode(reader.bytes()?),
            ))
        }
        Ty::Quantity => {
            expect(2)?;
            let mut q = Map::new();
            message(reader.bytes()?, &[(1, "string", Ty::Str)], &mut q)?;
            q.remove("string")
        }
        Ty::IntOrString => {
            expect(2)?;
            let mut v = Map::new();
            const INT_OR_STRING: Msg = &[
                (1, "type", Ty::Int),
                (2, "intVal", Ty::Int),
                (3, "strVal", Ty::Str),
            ];
            message(reader.bytes()?, INT_OR_STRING, &mut v)?;
            match v.get("type").and_then(Value::as_i64) {
                Some(1) => v.remove("strVal").or(Some(Value::from(""))),
                _ => v.remove("intVal").or(Some(Value::from(0))),
            }
        }
        Ty::Msg(inner) => {
            expect(2)?;
            let mut object = Map::new();
            message(reader.bytes()?, inner, &mut object)?;
            Some(Value::Object(object))
        }
        Ty::List(_) | Ty::Inline(_) | Ty::MapStr | Ty::MapBytes | Ty::MapQuantity => {
            return Err(format!("a {ty:?} cannot be a single value"));
        }
    })
}

/// A map entry: key 1, value 2.
fn entry(bytes: &[u8], ty: &Ty) -> Result<(String, Value), String> {
    let value_ty = match ty {
        Ty::MapBytes => &Ty::Bytes,
        Ty::MapQuantity => &Ty::Quantity,
        _ => &Ty::Str,
    };
    let mut reader = Reader(bytes);
    let (mut key, mut value) = (String::new(), None);
    while let Some((number, wire)) = reader.key()? {
        match number {
            1 => {
                key = std::str::from_utf8(reader.bytes()?)
                    .map_err(|e| e.to_string())?
                    .to_owned();
            }
            2 => value = single(&mut reader, wire, value_ty)?,
            _ => reader.skip(wire)?,
        }
    }
    // An empty string is a value in a map.
    Ok((key, value.unwrap_or_else(|| Value::from(""))))
}

/// The wire format, read front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or("a number is cut short")?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number is longer than ten bytes".into())
    }

    /// The next field's number and wire type; none at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| "a field number is too big")?;
        Ok(Some((number, (key & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "a length is too big")?;
        if len > self.0.len() {
            return Err("a field is cut short".into());
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(bytes)
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
        let fixed = |n: usize, r: &mut Self| {
            if r.0.len() < n {
                return Err("a field is cut short".to_owned());
            }
            r.0 = &r.0[n..];
            Ok(())
        };
        match wire {
            0 => self.varint().map(drop),
            1 => fixed(8, self),
            2 => self.bytes().map(drop),
            5 => fixed(4, self),
            other => Err(format!("wire type {other} is not read")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes protobuf the way the tests need it.
    fn key(number: u32, wire: u8) -> Vec<u8> {
        varint(u64::from(number) << 3 | u64::from(wire))
    }
    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }
    fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = key(number, 2);
        out.extend(varint(bytes.len() as u64));
        out.extend(bytes);
        out
    }
    fn number(number: u32, v: u64) -> Vec<u8> {
        let mut out = key(number, 0);
        out.extend(varint(v));
        out
    }

    #[test]
    fn a_job_from_kubectl_reads_as_its_json() {
        // metadata{name, labels{a: b}, generation: 0}, spec{backoffLimit: 0,
        // template{spec{containers[{name, image, args}], restartPolicy}}}.
        let labels = [field(1, b"a"), field(2, b"b")].concat();
        // `generation` (7) is the server's, and left out.
        let metadata = [field(1, b"now"), field(11, &labels), number(7, 0)].concat();
        let container = [
            field(1, b"hello"),
            field(2, b"sha256:00"),
            field(4, b"x"),
            field(4, b"y"),
            field(5, b""),
            number(16, 0),
        ]
        .concat();
        let pod = [field(2, &container), field(3, b"Never")].concat();
        let template = [field(1, b""), field(2, &pod)].concat();
        let spec = [number(7, 0), field(6, &template)].concat();
        let job = [field(1, &metadata), field(2, &spec)].concat();
        let type_meta = [field(1, b"batch/v1"), field(2, b"Job")].concat();
        let mut body = MAGIC.to_vec();
        body.extend(
            [
                field(1, &type_meta),
                field(2, &job),
                field(4, b"application/vnd.kubernetes.protobuf"),
            ]
            .concat(),
        );
        let decoded = decode(&body).unwrap();
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "now", "labels": {"a": "b"}},
                "spec": {"backoffLimit": 0, "template": {"metadata": {}, "spec": {
                    "containers": [{"name": "hello", "image": "sha256:00", "args": ["x", "y"]}],
                    "restartPolicy": "Never",
                }}},
            })
        );
    }

    #[test]
    fn secrets_volumes_and_quantities_read_as_kubernetes_json_has_them() {
        let data = [field(1, b"k"), field(2, b"\x00\x01")].concat();
        let secret = [
            field(1, &field(1, b"s")),
            field(2, &data),
            field(3, b"Opaque"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let mut body = MAGIC.to_vec();
        body.extend([field(1, &type_meta), field(2, &secret)].concat());
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded["data"]["k"], "AAE=");
        assert_eq!(decoded["type"], "Opaque");

        // A volume's source is inline; an emptyDir with nothing set is kept.
        let volume = [field(1, b"scratch"), field(2, &field(2, b""))].concat();
        let limits = [field(1, b"memory"), field(2, &field(1, b"16Mi"))].concat();
        let container = [field(1, b"c"), field(8, &field(1, &limits))].concat();
        let pod = [field(1, &volume), field(2, &container)].concat();
        let mut out = Map::new();
        message(&pod, schema::POD_SPEC, &mut out).unwrap();
        let pod = Value::Object(out);
        assert_eq!(
            pod["volumes"][0],
            json!({"name": "scratch", "emptyDir": {}})
        );
        assert_eq!(
            pod["containers"][0]["resources"]["limits"]["memory"],
            "16Mi"
        );

        assert!(decode(b"{\"kind\": \"Job\"}").is_err());
        let mut cut = MAGIC.to_vec();
        cut.extend([0x0a, 0x05, b'x']);
        assert!(decode(&cut).is_err());
    }
}
