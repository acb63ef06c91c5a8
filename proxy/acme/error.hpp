#pragma once
// The one exception type of the ACME layer. The order machine never lets it out of
// its step functions: there it becomes a failed step with the same words.

#include <stdexcept>

namespace vmsgate::acme {

// The message is fit for the operator: it names the file, key or field at fault.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace vmsgate::acme
