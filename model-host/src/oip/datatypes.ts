/**
 * @module
 * Open Inference Protocol tensor datatypes and their typed-array and
 * onnxruntime equivalents. BYTES and FP16 are part of the protocol but no
 * model here declares them, so they are named and refused clearly.
 */

export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const

/** Datatypes the host can carry between HTTP and onnxruntime. */
export const NUMERIC_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP32',
  'FP64',
] as const
export type NumericDatatype = (typeof NUMERIC_DATATYPES)[number]

export type TensorData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array

interface DatatypeInfo {
  bytes: number
  ort: 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float32' | 'float64'
  create(lengthOrBuffer: number | ArrayBuffer, byteOffset?: number, length?: number): TensorData
  /** Range check for JSON numbers; floats accept any finite number. */
  min?: number
  max?: number
  integer: boolean
  big?: boolean
}

const info = (
  ctor: { new (n: number): TensorData; new (b: ArrayBuffer, o?: number, l?: number): TensorData },
  rest: Omit<DatatypeInfo, 'create'>,
): DatatypeInfo => ({
  ...rest,
  create: (a, o, l) => (typeof a === 'number' ? new ctor(a) : new ctor(a, o, l)),
})

export const DATATYPE_INFO: Record<NumericDatatype, DatatypeInfo> = {
  BOOL: info(Uint8Array, { bytes: 1, ort: 'bool', integer: true, min: 0, max: 1 }),
  UINT8: info(Uint8Array, { bytes: 1, ort: 'uint8', integer: true, min: 0, max: 0xff }),
  UINT16: info(Uint16Array, { bytes: 2, ort: 'uint16', integer: true, min: 0, max: 0xffff }),
  UINT32: info(Uint32Array, { bytes: 4, ort: 'uint32', integer: true, min: 0, max: 0xffffffff }),
  UINT64: info(BigUint64Array, {
    bytes: 8,
    ort: 'uint64',
    integer: true,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    big: true,
  }),
  INT8: info(Int8Array, { bytes: 1, ort: 'int8', integer: true, min: -0x80, max: 0x7f }),
  INT16: info(Int16Array, { bytes: 2, ort: 'int16', integer: true, min: -0x8000, max: 0x7fff }),
  INT32: info(Int32Array, { bytes: 4, ort: 'int32', integer: true, min: -0x80000000, max: 0x7fffffff }),
  INT64: info(BigInt64Array, {
    bytes: 8,
    ort: 'int64',
    integer: true,
    min: Number.MIN_SAFE_INTEGER,
    max: Number.MAX_SAFE_INTEGER,
    big: true,
  }),
  FP32: info(Float32Array, { bytes: 4, ort: 'float32', integer: false }),
  FP64: info(Float64Array, { bytes: 8, ort: 'float64', integer: false }),
}

export function isNumericDatatype(d: string): d is NumericDatatype {
  return (NUMERIC_DATATYPES as readonly string[]).includes(d)
}

/** Maps an onnxruntime tensor type back to the protocol's name (one it has no name for, upper-cased). */
export function datatypeOfOrt(type: string): string {
  return NUMERIC_DATATYPES.find((d) => DATATYPE_INFO[d].ort === type) ?? type.toUpperCase()
}
