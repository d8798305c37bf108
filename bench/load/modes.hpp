// The four ways to run: steady traffic (load), steady traffic with a
// report per interval (soak), connections held open (idle), and a
// reconnect storm with pending orders (storm). Each fills the Report and
// returns the exit code (0 verified, 1 verification failed, 3 set-up failed).
#pragma once

#include "bench/load/options.hpp"
#include "bench/load/plan.hpp"
#include "bench/load/report.hpp"

namespace possync::load {

int run_mode(const Options& options, const Plan& plan, const std::string& prefix, Report& report);

}  // namespace possync::load
