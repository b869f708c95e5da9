#pragma once
// Time as the pure units see it: a point and a duration handed in by the caller. The
// network layer passes steady_clock readings; a simulator passes simulated time. No unit
// under loopback/ other than the network layer reads a clock.

#include <chrono>

namespace p2pdist::bt {

using duration = std::chrono::nanoseconds;
using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;

}  // namespace p2pdist::bt
