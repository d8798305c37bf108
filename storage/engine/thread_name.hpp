// Names the calling thread (at most 15 characters show), so that top -H,
// perf and gdb tell the broker's threads apart: io, store writer, readers,
// checkpointer, cluster listener.
#pragma once

#include <pthread.h>

namespace possync::storage::engine {

inline void name_this_thread(const char* name) noexcept { pthread_setname_np(pthread_self(), name); }

}  // namespace possync::storage::engine
