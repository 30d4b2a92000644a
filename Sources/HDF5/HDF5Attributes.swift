// Attributes on the root group, groups and datasets: String (variable-length UTF-8, which h5py reads as
// `str`), Int64, Double, and one-dimensional arrays of each. Writing replaces an existing attribute of the
// same name, whatever its type. Reading accepts any integer or float width HDF5 can convert, fixed- or
// variable-length strings, and a one-element array where a single value is asked for (and vice versa).
//
// Leaves out: multi-dimensional attributes, Float32/UInt8 attributes as their own kinds (they read as
// Double/Int64), compound and enum attributes.

import CHDF5
import Foundation
import _HDF5Shims

/// The value of one attribute, as stored: a single value or a one-dimensional array.
public enum HDF5AttributeValue: Equatable, Sendable {
    case string(String), int64(Int64), double(Double)
    case strings([String]), int64s([Int64]), doubles([Double])
}

/// A Swift value that can be stored as an attribute: String, Int64, Int, Double, arrays of them, or an
/// `HDF5AttributeValue` itself.
public protocol HDF5AttributeConvertible {
    var hdf5AttributeValue: HDF5AttributeValue { get }
    init?(hdf5AttributeValue: HDF5AttributeValue)
}

/// A type whose values (and arrays of values) can be attributes.
public protocol HDF5AttributeElement: HDF5AttributeConvertible {
    static func attributeValue(_ values: [Self], single: Bool) -> HDF5AttributeValue
    /// The elements of `value` if it holds this type, single or array; nil otherwise.
    static func elements(of value: HDF5AttributeValue) -> [Self]?
}

extension HDF5AttributeElement {
    public var hdf5AttributeValue: HDF5AttributeValue { Self.attributeValue([self], single: true) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard let elements = Self.elements(of: value), elements.count == 1 else { return nil }
        self = elements[0]
    }
}

extension Array: HDF5AttributeConvertible where Element: HDF5AttributeElement {
    public var hdf5AttributeValue: HDF5AttributeValue { Element.attributeValue(self, single: false) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard let elements = Element.elements(of: value) else { return nil }
        self = elements
    }
}

extension String: HDF5AttributeElement {
    public static func attributeValue(_ values: [String], single: Bool) -> HDF5AttributeValue {
        single ? .string(values[0]) : .strings(values)
    }
    public static func elements(of value: HDF5AttributeValue) -> [String]? {
        switch value {
        case .string(let value): [value]
        case .strings(let values): values
        default: nil
        }
    }
}

extension Int64: HDF5AttributeElement {
    public static func attributeValue(_ values: [Int64], single: Bool) -> HDF5AttributeValue {
        single ? .int64(values[0]) : .int64s(values)
    }
    public static func elements(of value: HDF5AttributeValue) -> [Int64]? {
        switch value {
        case .int64(let value): [value]
        case .int64s(let values): values
        default: nil
        }
    }
}

/// Stored as Int64.
extension Int: HDF5AttributeElement {
    public static func attributeValue(_ values: [Int], single: Bool) -> HDF5AttributeValue {
        Int64.attributeValue(values.map { Int64($0) }, single: single)
    }
    public static func elements(of value: HDF5AttributeValue) -> [Int]? {
        Int64.elements(of: value)?.map { Int($0) }
    }
}

extension Double: HDF5AttributeElement {
    public static func attributeValue(_ values: [Double], single: Bool) -> HDF5AttributeValue {
        single ? .double(values[0]) : .doubles(values)
    }
    public static func elements(of value: HDF5AttributeValue) -> [Double]? {
        switch value {
        case .double(let value): [value]
        case .doubles(let values): values
        default: nil
        }
    }
}

extension HDF5AttributeValue: HDF5AttributeConvertible {
    /// "a String", "3 Int64s", ...: what the value holds, for error messages.
    var kindDescription: String {
        switch self {
        case .string: "a String"
        case .int64: "an Int64"
        case .double: "a Double"
        case .strings(let values): "\(values.count) Strings"
        case .int64s(let values): "\(values.count) Int64s"
        case .doubles(let values): "\(values.count) Doubles"
        }
    }

    public var hdf5AttributeValue: HDF5AttributeValue { self }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) { self = value }
}

// MARK: - Reading and writing

extension HDF5Object {
    /// Writes attribute `name`, replacing any attribute of that name.
    public func setAttribute<Value: HDF5AttributeConvertible>(_ name: String, _ value: Value) throws {
        try withAttributes(name) { object, site in
            if try site.check(H5Aexists(object, name), "H5Aexists") > 0 {
                try site.check(H5Adelete(object, name), "H5Adelete")
            }
            try writeAttribute(object, name, value.hdf5AttributeValue, site)
        }
    }

    /// Reads attribute `name` as `Value`; throws `.notFound` if it is missing and `.typeMismatch` if it
    /// holds another kind of value.
    public func attribute<Value: HDF5AttributeConvertible>(_ name: String, as type: Value.Type = Value.self) throws -> Value {
        try withAttributes(name) { object, site in
            guard try site.check(H5Aexists(object, name), "H5Aexists") > 0 else {
                throw site.error(.notFound, "H5Aopen", "no such attribute")
            }
            let stored = try readAttribute(object, name, site)
            guard let value = Value(hdf5AttributeValue: stored) else {
                throw site.error(.typeMismatch, "HDF5Object.attribute", "holds \(stored.kindDescription), not \(Value.self)")
            }
            return value
        }
    }

    public func hasAttribute(_ name: String) throws -> Bool {
        try withAttributes(name) { object, site in try site.check(H5Aexists(object, name), "H5Aexists") > 0 }
    }

    /// The names of all attributes of this object, sorted.
    public func attributeNames() throws -> [String] {
        try file.withOpenFile(object: path) { id, site in
            let object = try site.check(H5Oopen(id, path, vt_h5p_default()), "H5Oopen")
            defer { H5Oclose(object) }
            var names: [String] = []
            var index: hsize_t = 0
            _ = try withUnsafeMutablePointer(to: &names) { names in
                try site.check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
                    if let name, let context {
                        context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                    }
                    return 0
                }, names), "H5Aiterate2")
            }
            return names.sorted()
        }
    }

    // MARK: Helpers (called under the lock)

    /// Opens this object for the duration of `body`, with errors naming attribute `name`.
    private func withAttributes<Result>(_ name: String, _ body: (hid_t, Site) throws -> Result) throws -> Result {
        try file.withOpenFile(object: "attribute '\(name)' of '\(path)'") { id, site in
            let object = try site.check(H5Oopen(id, path, vt_h5p_default()), "H5Oopen")
            defer { H5Oclose(object) }
            return try body(object, site)
        }
    }

    private func writeAttribute(_ object: hid_t, _ name: String, _ value: HDF5AttributeValue, _ site: Site) throws {
        func write(_ count: Int, single: Bool, _ type: hid_t, _ data: UnsafeRawPointer?) throws {
            let space = try site.check(single ? H5Screate(H5S_SCALAR)
                                              : count == 0 ? H5Screate(H5S_NULL)
                                                           : H5Screate_simple(1, [hsize_t(count)], nil), "H5Screate")
            defer { H5Sclose(space) }
            let attribute = try site.check(H5Acreate2(object, name, type, space, vt_h5p_default(), vt_h5p_default()),
                                           "H5Acreate2")
            defer { H5Aclose(attribute) }
            if count > 0 { try site.check(H5Awrite(attribute, type, data), "H5Awrite") }
        }
        func write<T>(_ values: [T], single: Bool, _ type: hid_t) throws {
            try values.withUnsafeBytes { try write(values.count, single: single, type, $0.baseAddress) }
        }
        func write(strings: [String], single: Bool) throws {
            let type = try variableLengthStringType(site)
            defer { H5Tclose(type) }
            let pointers = strings.map { strdup($0) }
            defer { pointers.forEach { free($0) } }
            try write(pointers, single: single, type)
        }
        switch value {
        case .string(let value): try write(strings: [value], single: true)
        case .strings(let values): try write(strings: values, single: false)
        case .int64(let value): try write([value], single: true, vt_h5t_native_int64())
        case .int64s(let values): try write(values, single: false, vt_h5t_native_int64())
        case .double(let value): try write([value], single: true, vt_h5t_native_double())
        case .doubles(let values): try write(values, single: false, vt_h5t_native_double())
        }
    }

    private func readAttribute(_ object: hid_t, _ name: String, _ site: Site) throws -> HDF5AttributeValue {
        let attribute = try site.check(H5Aopen(object, name, vt_h5p_default()), "H5Aopen")
        defer { H5Aclose(attribute) }
        let type = try site.check(H5Aget_type(attribute), "H5Aget_type")
        defer { H5Tclose(type) }
        let space = try site.check(H5Aget_space(attribute), "H5Aget_space")
        defer { H5Sclose(space) }
        let count = Int(try site.check(H5Sget_simple_extent_npoints(space), "H5Sget_simple_extent_npoints"))
        let single = H5Sget_simple_extent_type(space) == H5S_SCALAR
        func read<T>(_ memoryType: hid_t, _ zero: T) throws -> [T] {
            var values = [T](repeating: zero, count: count)
            if count > 0 { try values.withUnsafeMutableBytes { _ = try site.check(H5Aread(attribute, memoryType, $0.baseAddress), "H5Aread") } }
            return values
        }
        switch H5Tget_class(type) {
        case H5T_INTEGER:
            return Int64.attributeValue(try read(vt_h5t_native_int64(), Int64(0)), single: single)
        case H5T_FLOAT:
            return Double.attributeValue(try read(vt_h5t_native_double(), 0.0), single: single)
        case H5T_STRING where H5Tis_variable_str(type) > 0:
            let memoryType = try variableLengthStringType(site, characterSet: H5Tget_cset(type))  // no conversion
            defer { H5Tclose(memoryType) }
            let pointers = try read(memoryType, UnsafeMutablePointer<CChar>?.none)
            defer { pointers.forEach { H5free_memory($0) } }
            return String.attributeValue(pointers.map { $0.map { String(cString: $0) } ?? "" }, single: single)
        case H5T_STRING:
            // Fixed length: `size` bytes per string, padded with NULs (or spaces, which are kept).
            let size = H5Tget_size(type)
            var buffer = [UInt8](repeating: 0, count: count * size)
            if count > 0 { try site.check(H5Aread(attribute, type, &buffer), "H5Aread") }
            let strings = (0..<count).map { index in
                let element = buffer[index * size..<(index + 1) * size]
                return String(decoding: element.prefix { $0 != 0 }, as: UTF8.self)
            }
            return String.attributeValue(strings, single: single)
        default:
            throw site.error(.typeMismatch, "H5Aget_type", "unsupported attribute type (class \(H5Tget_class(type).rawValue))")
        }
    }

}
