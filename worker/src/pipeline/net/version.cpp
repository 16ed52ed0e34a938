// What tch 0.26 does not expose about a tensor's identity: its version counter (bumped by every in-place write:
// an optimizer step, a state dict or snapshot copied in) and whether two handles are the same tensor. Together
// they tell a cache of values derived from a weight whether the weight changed since.
#include <ATen/ATen.h>

extern "C" int64_t sweep_tensor_version(at::Tensor *t) { return static_cast<int64_t>(t->_version()); }

extern "C" int sweep_same_tensor(at::Tensor *a, at::Tensor *b) { return a->is_same(*b) ? 1 : 0; }
