// linkd's options, stated once: one row per linkage.v1.ServerConfig field
// with its default, its range and the linkd flag that sets it. WithDefaults
// and ValidateConfig (linkage/server.h) apply the rows, linkd's --help is
// written from them, and config_test checks that config.proto's comments
// state the same defaults and ranges. Internal to the server.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "linkage/v1/config.pb.h"

namespace linkage::service {

struct ConfigField {
  // The ServerConfig field, as config.proto and config files spell it.
  std::string_view name;

  // The default, given to the field when it is unset (0, empty, or for an
  // `optional` field absent): `number` for a numeric or bool field (bool:
  // 0 false, 1 true), `text` for a string field. A field left 0 or empty
  // has no default of its own: its meaning is decided elsewhere (e.g.
  // model_file: the stored model, else the built-in one).
  double number = 0;
  std::string_view text = {};
  // A default that is not a constant: what it is, for --help ("number of
  // cores"), and the function that finds it.
  std::string_view note = {};
  int32_t (*compute)() = nullptr;

  // The values accepted once defaults are applied, both ends included;
  // none when both are 0.
  double min = 0;
  double max = 0;

  // The linkd flag that sets the field, as CLI11 spells it ("" for none),
  // and what it does; FlagHelp adds the default: "<help> (default
  // <default><help_tail>)".
  std::string_view flag = {};
  std::string_view help = {};
  std::string_view help_tail = {};

  bool has_range() const { return min != 0 || max != 0; }
};

// Every ServerConfig field once, in `linkd --help` order. ValidateConfig
// reports the first row out of range, so the rows with ranges keep the
// fields' declaration order.
std::span<const ConfigField> ConfigFields();

// Whether a listen address (host:port, [v6]:port, unix:path) is reachable
// from this machine only (127.0.0.0/8, ::1, localhost, a unix socket).
bool IsLoopbackAddress(std::string_view listen);

// How a field is held (its proto type).
enum class ConfigType { kString, kInt32, kDouble, kBool, kEnum };
ConfigType TypeOf(const ConfigField& field);

// The constant default as a config file writes it, without quotes ("16",
// "10", "127.0.0.1:50051", "true"); "" when there is none (see `note`).
std::string DefaultText(const ConfigField& field);

// The flag's --help line: `help`, then the default unless the field has
// none or is a flag that is off unless given.
std::string FlagHelp(const ConfigField& field);

// Sets `field` of `config`; the value's type must be TypeOf(field)'s.
void SetField(const ConfigField& field, const std::string& value, v1::ServerConfig* config);
void SetField(const ConfigField& field, int32_t value, v1::ServerConfig* config);
void SetField(const ConfigField& field, double value, v1::ServerConfig* config);
void SetField(const ConfigField& field, bool value, v1::ServerConfig* config);

}  // namespace linkage::service
