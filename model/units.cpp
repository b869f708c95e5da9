#include "model/units.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

namespace p2pdist::model {

namespace {

struct prefix {
  std::string_view text;
  double factor;
};

// Longer spellings first so that "Ki" wins over "K".
constexpr prefix prefixes[] = {
    {"Ki", 1024.0},
    {"Mi", 1024.0 * 1024.0},
    {"Gi", 1024.0 * 1024.0 * 1024.0},
    {"Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0},
    {"k", 1e3},
    {"K", 1e3},
    {"M", 1e6},
    {"G", 1e9},
    {"T", 1e12},
    {"", 1.0},
};

enum class kind { size, rate };

// Splits "32MiB" into the number 32 and the unit "MiB". Throws on a bad number.
std::pair<double, std::string_view> split_number(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) throw unit_error("empty value");
  if (text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range) throw unit_error("'" + std::string(text) + "' is out of range");
  if (ec != std::errc{} || ptr == first) throw unit_error("'" + std::string(text) + "' does not start with a number");
  if (!std::isfinite(value)) throw unit_error("'" + std::string(text) + "' is not a finite number");
  if (value < 0) throw unit_error("'" + std::string(text) + "' is negative");
  std::string_view unit(ptr, static_cast<std::size_t>(last - ptr));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return {value, unit};
}

// Returns the factor that turns one `unit` into bits (size) or bits/s (rate), or NaN.
double unit_factor(std::string_view unit, kind k) {
  if (unit.empty()) return 1.0;  // bare number: bits or bits/s
  for (const auto& p : prefixes) {
    if (!unit.starts_with(p.text)) continue;
    std::string_view rest = unit.substr(p.text.size());
    if (k == kind::rate) {
      // bits: bps, bit/s, b/s, bits/s; bytes: B/s, Bps, byte/s, bytes/s
      for (auto s : {"bps", "bit/s", "bits/s", "b/s"})
        if (rest == s) return p.factor;
      for (auto s : {"B/s", "Bps", "byte/s", "bytes/s"})
        if (rest == s) return p.factor * 8.0;
    } else {
      for (auto s : {"b", "bit", "bits"})
        if (rest == s) return p.factor;
      for (auto s : {"B", "byte", "bytes"})
        if (rest == s) return p.factor * 8.0;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double parse(std::string_view text, kind k) {
  const auto [number, unit] = split_number(text);
  const double factor = unit_factor(unit, k);
  if (std::isnan(factor)) {
    throw unit_error("'" + std::string(text) + "' has an unknown unit '" + std::string(unit) +
                     (k == kind::size ? "' (use e.g. 15Gbit, 2GB, 32MiB, 16KiB)"
                                      : "' (use e.g. 30Mbps, 300kbps, 2MB/s, 4MiB/s)"));
  }
  const double v = number * factor;
  if (!std::isfinite(v)) throw unit_error("'" + std::string(text) + "' is out of range");
  return v;
}

std::string printf_string(const char* fmt, double v, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v, unit);
  return buf;
}

// Three significant digits with an SI prefix: 1.5e10 -> "15 G", 3e5 -> "300 k".
std::string si(double v, const char* unit) {
  static constexpr struct {
    double factor;
    const char* name;
  } steps[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  for (const auto& s : steps) {
    if (std::abs(v) >= s.factor) {
      return printf_string("%.3g %s", v / s.factor, (std::string(s.name) + unit).c_str());
    }
  }
  return printf_string("%.3g %s", v, unit);
}

}  // namespace

double parse_size_bits(std::string_view text) { return parse(text, kind::size); }

double parse_rate_bps(std::string_view text) { return parse(text, kind::rate); }

double parse_rate_or_unlimited_bps(std::string_view text) {
  if (text == "unlimited" || text == "inf") return std::numeric_limits<double>::infinity();
  return parse_rate_bps(text);
}

double parse_duration_seconds(std::string_view text) {
  const auto [number, unit] = split_number(text);
  double factor = 0;
  if (unit.empty() || unit == "s") factor = 1;
  else if (unit == "ms") factor = 1e-3;
  else if (unit == "us") factor = 1e-6;
  else if (unit == "min" || unit == "m") factor = 60;
  else if (unit == "h") factor = 3600;
  else
    throw unit_error("'" + std::string(text) + "' has an unknown unit '" + std::string(unit) +
                     "' (use e.g. 5s, 500ms, 2min, 1h)");
  return number * factor;
}

std::vector<double> parse_list(std::string_view text, double (*parse_one)(std::string_view)) {
  std::vector<double> out;
  std::size_t item = 1;
  while (true) {
    const auto comma = text.find(',');
    const auto piece = text.substr(0, comma);
    try {
      out.push_back(parse_one(piece));
    } catch (const unit_error& e) {
      throw unit_error("item " + std::to_string(item) + ": " + e.what());
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    ++item;
  }
  return out;
}

std::string format_bits(double bits) { return si(bits, "bit"); }

std::string format_bps(double bps) {
  if (std::isinf(bps)) return "unlimited";
  return si(bps, "bps");
}

std::string format_seconds(double seconds) {
  if (std::isinf(seconds)) return "inf";
  if (seconds < 1e-3) return printf_string("%.3g %s", seconds * 1e6, "us");
  if (seconds < 1.0) return printf_string("%.3g %s", seconds * 1e3, "ms");
  if (seconds < 60.0) return printf_string("%.3g %s", seconds, "s");
  char buf[96];
  const auto total_min = static_cast<long long>(seconds / 60.0);
  if (seconds < 3600.0) {
    std::snprintf(buf, sizeof buf, "%.1f s (%lld min %02d s)", seconds, total_min,
                  static_cast<int>(std::fmod(seconds, 60.0)));
  } else {
    std::snprintf(buf, sizeof buf, "%.0f s (%lld h %02lld min)", seconds, total_min / 60, total_min % 60);
  }
  return buf;
}

}  // namespace p2pdist::model
