#pragma once
// systemd's notification protocol (sd_notify(3)), for `Type=notify` units: READY=1
// once every listener is bound, RELOADING=1 ... READY=1 around a reload (so that
// `systemctl reload` returns when the reload is done, and says if it failed),
// STOPPING=1 when the drain starts, and WATCHDOG=1 from the control loop while the
// unit sets WatchdogSec. Without NOTIFY_SOCKET in the environment every call does
// nothing.

#include <chrono>
#include <optional>
#include <string_view>

namespace vmsgate::app::notify {

void ready(std::string_view status);
void reloading();
void stopping();
void watchdog();
// How often to send WATCHDOG=1 (half the unit's WatchdogSec); none when unset.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace vmsgate::app::notify
