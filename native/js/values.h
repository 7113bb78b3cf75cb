// Reading JS values at the boundary. Whatever a raw caller hands over (the
// façade never does), a wrong type reads as zero, false or empty and a
// number is clamped to its field's range: nothing here throws for a bad
// value, and no NaN or out-of-range double is ever cast (undefined in C++).
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace nlws::js {

inline double Num(const Napi::Value& v) {
  if (!v.IsNumber()) return 0;
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isnan(d) ? 0 : d;
}

// A number clamped to [lo, hi] (so casting it is defined).
inline double Clamped(const Napi::Value& v, double lo, double hi) {
  double d = Num(v);
  return d < lo ? lo : d > hi ? hi : d;
}

template <typename T>
T Int(const Napi::Value& v, T lo, T hi) {
  return static_cast<T>(Clamped(v, static_cast<double>(lo), static_cast<double>(hi)));
}

inline uint32_t U32(const Napi::Value& v) { return Int<uint32_t>(v, 0, UINT32_MAX); }

inline bool Bool(const Napi::Value& v) { return v.IsBoolean() && v.As<Napi::Boolean>().Value(); }

inline std::string Str(const Napi::Value& v) { return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(); }

// A string's UTF-8, or a Uint8Array's bytes (the façade turns every view into one).
inline std::string Bytes(const Napi::Value& v) {
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto a = v.As<Napi::Uint8Array>();
    return std::string(reinterpret_cast<const char*>(a.Data()), a.ByteLength());
  }
  return std::string();
}

// An array's length, 0 for anything else.
inline uint32_t Length(const Napi::Value& v) { return v.IsArray() ? v.As<Napi::Array>().Length() : 0; }

}  // namespace nlws::js
