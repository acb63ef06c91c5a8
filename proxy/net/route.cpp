#include "proxy/net/route.hpp"

namespace vmsgate::net_io {

route_counters::route_counters(std::size_t backend_count) : backend_failures(backend_count) {}

}  // namespace vmsgate::net_io
