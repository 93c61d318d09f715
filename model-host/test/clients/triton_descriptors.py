"""Prints, as JSON, the messages (fields by name: number, type, label),
enums and service methods of tritonclient's own gRPC descriptors: what an
unmodified Triton client puts on the wire, to check our .proto against."""
import json

from google.protobuf.descriptor import FieldDescriptor
from tritonclient.grpc import model_config_pb2, service_pb2


SCALARS = {
    FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_INT64: "int64", FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_UINT64: "uint64", FieldDescriptor.TYPE_FLOAT: "float", FieldDescriptor.TYPE_DOUBLE: "double",
}


def kind(f):
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return f.message_type.full_name
    if f.type == FieldDescriptor.TYPE_ENUM:
        return f.enum_type.full_name
    return SCALARS.get(f.type, str(f.type))


def repeated(f):
    # protobuf 6 has is_repeated and deprecates label; older ones have only label.
    return f.is_repeated if hasattr(type(f), "is_repeated") else f.label == FieldDescriptor.LABEL_REPEATED


def message(d, out, prefix):
    name = f"{prefix}{d.name}"
    fields = {}
    for f in d.fields:
        entry = f.message_type if f.type == FieldDescriptor.TYPE_MESSAGE else None
        if entry is not None and entry.GetOptions().map_entry:
            k, v = entry.fields_by_name["key"], entry.fields_by_name["value"]
            fields[f.name] = [f.number, f"map<{kind(k)},{kind(v)}>", False]
        else:
            fields[f.name] = [f.number, kind(f), repeated(f)]
    out[name] = fields
    for nested in d.nested_types:
        if not nested.GetOptions().map_entry:
            message(nested, out, f"{name}.")


messages, enums = {}, {}
for module in (service_pb2, model_config_pb2):
    for d in module.DESCRIPTOR.message_types_by_name.values():
        message(d, messages, "")
    for e in module.DESCRIPTOR.enum_types_by_name.values():
        enums[e.name] = {v.name: v.number for v in e.values}
service = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
methods = {m.name: [m.input_type.name, m.output_type.name] for m in service.methods}
print(json.dumps({"messages": messages, "enums": enums, "methods": methods}))
