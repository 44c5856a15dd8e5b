// tests/testing/fake_device.h: a stand-in GPU, so CPU tests can run the code that keeps rows on
// a backend's device (Mixer::takes_device_rows, the ring given q on the device).
//
// make_fake_device_backends returns an attention backend and a layer backend whose device() is
// kFakeDevice and which compute with the CPU backends, so every result must equal the CPU's bit
// for bit. Their "device memory" is host pages that no one may read or write outside their own
// calls: the pages are mapped PROT_NONE and opened only while one of the two backends runs an
// op. Code that dereferences a device tensor on the host (as if it were host rows) crashes the
// test with SIGSEGV instead of passing unnoticed, as it would crash or read garbage on a GPU.
//
// Thread-compatible, as the backends it fakes; the pages of every fake backend of the process
// open and close together, so ranks on threads of one test may each have their own.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "model/shard.h"

namespace ringmaster::testing {

inline const Device kFakeDevice = Device::cuda(7);

// The attention and layer backends on kFakeDevice, over `pool` (which must outlive them); the
// ATLAS backend is the CPU's (null).
model::ShardBackends make_fake_device_backends(ThreadPool& pool);

// How many device tensors the fake backends' ops have been given so far (all of them, every
// thread): a test reads it before and after to see that rows really were on the device.
int64_t fake_device_views();

}  // namespace ringmaster::testing
