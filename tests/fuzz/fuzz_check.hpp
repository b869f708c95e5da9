#pragma once
// The one assertion of the fuzz targets: a property that does not hold aborts, which
// libFuzzer reports as a crash with the input that broke it (assert() would vanish
// under NDEBUG).

#include <cstdlib>

namespace p2pdist::fuzz {

inline void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace p2pdist::fuzz
