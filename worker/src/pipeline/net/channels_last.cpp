// Gives a tensor the channels-last (NHWC) memory layout, which tch 0.26 does
// not expose: libtorch's oneDNN convolutions run faster on it on CPU, and
// every op after a channels-last convolution keeps the layout. The tensor
// arrives as tch's C_tensor pointer (`at::Tensor *`); the result is a new
// `at::Tensor *` that tch takes over (or null with the message in `err`).
#include <ATen/ATen.h>
#include <cstdio>
#include <exception>

extern "C" at::Tensor *sweep_channels_last(at::Tensor *t, char *err, size_t err_len) {
  try {
    return new at::Tensor(t->contiguous(at::MemoryFormat::ChannelsLast));
  } catch (const std::exception &e) {
    std::snprintf(err, err_len, "%s", e.what());
    return nullptr;
  }
}

// Whether the tensor is laid out channels-last (for tests).
extern "C" int sweep_is_channels_last(at::Tensor *t) {
  return t->is_contiguous(at::MemoryFormat::ChannelsLast) && !t->is_contiguous() ? 1 : 0;
}
