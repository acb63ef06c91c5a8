#pragma once
// Features that the configuration accepts in full but the rest of the gateway may
// not carry yet. Validation refuses a config that needs a feature switched off here,
// so that an operator learns at load time rather than from a silent non-route.

namespace vmsgate::config {

// Originate mode (plain in, TLS out) is parsed and checked like any other route,
// but the data path for it lands separately; whoever lands it flips this to true.
inline constexpr bool originate_supported = true;

}  // namespace vmsgate::config
