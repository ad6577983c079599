// Running the reference implementation, gguf-py, from the tests. The interpreter comes from
// CLIPGEN_PYTHON (a venv with `gguf` and `numpy`); without it the interop tests are skipped
// locally and fail under CI, so a CI run can never silently skip them.

import ClipgenFile
import Foundation
import Testing

enum ReferencePython {
    static let environment = ProcessInfo.processInfo.environment
    /// The interpreter from CLIPGEN_PYTHON, if set.
    static let interpreter: String? = environment["CLIPGEN_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
    /// Whether we run under CI (CI set to anything but "", "0" or "false").
    static let isCI: Bool = environment["CI"].map { !["", "0", "false"].contains($0.lowercased()) } ?? false
    /// Interop tests run when a Python is configured, and under CI (where a missing one fails them).
    static let testsEnabled = interpreter != nil || isCI
    static let skipMessage: Comment = """
        CLIPGEN_PYTHON is not set: gguf-py interop tests SKIPPED. Point it at a Python with gguf and numpy \
        (python3 -m venv v && v/bin/pip install gguf numpy; CLIPGEN_PYTHON=v/bin/python). Under CI=true they fail instead.
        """

    /// The interpreter, or a thrown failure explaining how to set it.
    static func require() throws -> String {
        guard let interpreter else {
            throw Failure("CLIPGEN_PYTHON must be set when CI is set: it names a Python with the gguf and numpy packages")
        }
        return interpreter
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    struct Output { let status: Int32; let stdout: String; let stderr: String }

    /// Runs `executable args`, capturing output (with a generous timeout against hangs).
    static func run(_ executable: String, _ args: [String]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read before waiting so a full pipe cannot block the child.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    /// Runs a Python script with arguments; throws with its stderr when it fails.
    static func script(_ source: String, _ args: [String], in dir: ScratchDirectory) throws -> String {
        let python = try require()
        let file = dir.file("script-\(UUID().uuidString).py")
        try source.write(toFile: file, atomically: false, encoding: .utf8)
        let r = try run(python, [file] + args)
        guard r.status == 0 else { throw Failure("python exited \(r.status):\n\(r.stderr)") }
        return r.stdout
    }
}

/// A type-tagged, exact text form of a metadata value, produced identically by Swift and by the
/// Python scripts: integers in decimal, floats as bit patterns, strings as UTF-8 hex.
func canonical(_ v: GGUFMetadataValue) -> String {
    switch v {
    case .array(let t, let elements): return "array[\(t)]:" + elements.map(canonicalPayload).joined(separator: ",")
    default: return "\(v.type):" + canonicalPayload(v)
    }
}

private func canonicalPayload(_ v: GGUFMetadataValue) -> String {
    func hex<T: FixedWidthInteger>(_ x: T) -> String {
        let s = String(x, radix: 16)
        return String(repeating: "0", count: MemoryLayout<T>.size * 2 - s.count) + s
    }
    switch v {
    case .uint8(let x): return "\(x)"
    case .int8(let x): return "\(x)"
    case .uint16(let x): return "\(x)"
    case .int16(let x): return "\(x)"
    case .uint32(let x): return "\(x)"
    case .int32(let x): return "\(x)"
    case .uint64(let x): return "\(x)"
    case .int64(let x): return "\(x)"
    case .float32(let x): return hex(x.bitPattern)
    case .float64(let x): return hex(x.bitPattern)
    case .bool(let x): return x ? "true" : "false"
    case .string(let s): return s.utf8.map { hex($0) }.joined()
    case .array: return "nested"
    }
}

func hexString(_ bytes: UnsafeRawBufferPointer) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// Python: the same canonical form, plus helpers, prepended to every script.
let pythonPrelude = #"""
import sys, json, struct
import numpy as np
import gguf
from gguf import GGUFValueType as T, GGMLQuantizationType as Q
NAMES = {T.UINT8: "uint8", T.INT8: "int8", T.UINT16: "uint16", T.INT16: "int16", T.UINT32: "uint32",
         T.INT32: "int32", T.FLOAT32: "float32", T.BOOL: "bool", T.STRING: "string", T.UINT64: "uint64",
         T.INT64: "int64", T.FLOAT64: "float64"}

def payload(t, v):
    if t == T.FLOAT32: return struct.pack(">f", v).hex()
    if t == T.FLOAT64: return struct.pack(">d", v).hex()
    if t == T.BOOL: return "true" if v else "false"
    if t == T.STRING: return (v.encode("utf-8") if isinstance(v, str) else bytes(v)).hex()
    return str(int(v))

def canonical(t, v, sub=None):
    if t == T.ARRAY: return "array[" + NAMES[sub] + "]:" + ",".join(payload(sub, x) for x in v)
    return NAMES[t] + ":" + payload(t, v)
"""#
