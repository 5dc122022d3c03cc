// torch.distributed (c10d) for data-parallel training: a TCPStore rendezvous, a Gloo (CPU) or NCCL (CUDA) process
// group, the collectives the trainer needs, bucketed gradient averaging and an all-gather with a gradient.
// Every collective waits on its Work with the group's timeout, so a dead peer is an error, never a hang.
//
// Gloo needs its headers (Debian: libgloo-dev); without them this file still builds and every export reports
// that distributed support was not compiled in. NCCL is compiled in when CMake finds a CUDA libtorch with
// ProcessGroupNCCL (CANKIT_WITH_NCCL).
#include "common.h"
#include <chrono>
#include <memory>
#include <string>

#if defined(CANKIT_WITH_GLOO) || defined(CANKIT_WITH_NCCL)
#define CANKIT_WITH_DIST 1
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#ifdef CANKIT_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CANKIT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {
// libtorch 2.x split ProcessGroup into a dispatcher and per-backend `Backend`s; 1.13's Gloo/NCCL groups are
// ProcessGroups themselves. Both expose the same collectives.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Backend> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
  std::string backend;

  // Waits for one collective; a failure or a timeout throws with the operation and the rank named.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* op) const {
    try {
      work->wait(timeout);
    } catch (const c10::Error& e) {
      throw std::runtime_error(describe(op, e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw std::runtime_error(describe(op, e.what()));
    }
  }

  std::string describe(const char* op, const std::string& why) const {
    return std::string(backend) + " " + op + " failed on rank " + std::to_string(rank) + " of " + std::to_string(size) +
           " (timeout " + std::to_string(timeout.count() / 1000) + " s): " + why +
           " — a peer process has probably exited or stopped responding";
  }

  // Sums one tensor over ranks, in place.
  void allreduce(at::Tensor& t) const {
    if (size == 1) return;
    std::vector<at::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = timeout;
    wait(pg->allreduce(v, o), "all-reduce");
  }

  void broadcast(at::Tensor& t, int root) const {
    if (size == 1) return;
    std::vector<at::Tensor> v{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = timeout;
    wait(pg->broadcast(v, o), "broadcast");
  }

  // All ranks' x stacked along dim 0: [W·n, …].
  at::Tensor allgather(const at::Tensor& x) const {
    auto in = x.contiguous();
    if (size == 1) return in.clone();
    std::vector<at::Tensor> inputs{in};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < size; r++) outputs[0].push_back(at::empty_like(in));
    c10d::AllgatherOptions o;
    o.timeout = timeout;
    wait(pg->allgather(outputs, inputs, o), "all-gather");
    return at::cat(outputs[0], 0);
  }
};

std::chrono::milliseconds ms(int64_t v) { return std::chrono::milliseconds(v); }

// Gloo and NCCL take one tensor per device in a list, so a list of differently shaped tensors travels as flat
// buckets: consecutive tensors of one dtype and device, up to bucket_bytes (at least one tensor each), are
// concatenated, `op` runs on the flat bucket, and the results are copied back in place.
template <typename Op>
void bucketed(std::vector<at::Tensor>& ts, int64_t bucket_bytes, Op op) {
  at::NoGradGuard no_grad;
  size_t i = 0;
  while (i < ts.size()) {
    int64_t bytes = ts[i].numel() * ts[i].element_size();
    size_t j = i + 1;
    while (j < ts.size() && ts[j].scalar_type() == ts[i].scalar_type() && ts[j].device() == ts[i].device() &&
           bytes + ts[j].numel() * ts[j].element_size() <= bucket_bytes) {
      bytes += ts[j].numel() * ts[j].element_size();
      j++;
    }
    std::vector<at::Tensor> parts;
    for (size_t k = i; k < j; k++) parts.push_back(ts[k].reshape({-1}));
    at::Tensor flat = at::cat(parts, 0);
    op(flat);
    int64_t off = 0;
    for (size_t k = i; k < j; k++) {
      ts[k].copy_(flat.narrow(0, off, ts[k].numel()).view(ts[k].sizes()));
      off += ts[k].numel();
    }
    i = j;
  }
}

constexpr int64_t kBucketBytes = 25LL << 20;

// Forward: every rank's x, stacked [W·n, …]. Backward: the loss of every rank depends on this rank's slice, so
// the incoming gradients are summed over ranks (all-reduce) and this rank keeps its own slice — the gradient of
// Σ_r L_r with respect to x. The trainer's gradient averaging then divides by W, giving ∂(mean_r L_r)/∂θ.
struct AllGatherFn : public torch::autograd::Function<AllGatherFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, int64_t group) {
    ctx->saved_data["group"] = group;
    ctx->saved_data["n"] = x.size(0);
    return reinterpret_cast<const Group*>(group)->allgather(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto* g = reinterpret_cast<const Group*>(ctx->saved_data["group"].toInt());
    int64_t n = ctx->saved_data["n"].toInt();
    at::Tensor sum = grads[0].contiguous().clone();
    g->allreduce(sum);
    return {sum.narrow(0, g->rank * n, n), at::Tensor()};
  }
};
}  // namespace

typedef Group* ck_group;
#else
typedef void* ck_group;
#endif

namespace {
[[noreturn]] void no_dist(const char* backend) {
  throw std::runtime_error(std::string("CanKit's native layer was built without the ") + backend +
                           " process group (Gloo needs its headers: apt-get install libgloo-dev, then rebuild; "
                           "NCCL needs a CUDA libtorch)");
}
}  // namespace

// 1 when the backend ("gloo" or "nccl") is compiled in.
CK_EXPORT int ck_dist_has_backend(const char* backend) {
  std::string b = backend ? backend : "";
#ifdef CANKIT_WITH_GLOO
  if (b == "gloo") return 1;
#endif
#ifdef CANKIT_WITH_NCCL
  if (b == "nccl") return 1;
#endif
  return 0;
}

// Joins a group: rank 0 hosts the TCPStore on addr:port and waits (up to timeout) for the other size − 1 ranks.
// Returns nullptr on error (message in the error slot).
CK_EXPORT ck_group ck_group_new(const char* backend, const char* addr, int port, int rank, int size, int64_t timeout_ms) {
  try {
    std::string b = backend ? backend : "";
    TORCH_CHECK(size >= 1, "world size must be ≥ 1, got ", size);
    TORCH_CHECK(rank >= 0 && rank < size, "rank ", rank, " is outside [0, ", size, ")");
    TORCH_CHECK(port > 0 && port < 65536, "port ", port, " is outside (0, 65536)");
    TORCH_CHECK(timeout_ms > 0, "timeout must be > 0");
#ifdef CANKIT_WITH_DIST
    auto g = std::make_unique<Group>();
    g->rank = rank;
    g->size = size;
    g->timeout = ms(timeout_ms);
    g->backend = b;
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(size);
    so.waitWorkers = true;
    so.timeout = ms(timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(addr ? addr : "127.0.0.1"), so);
    // A prefix keeps this group's keys apart from anything else sharing the store.
    g->store = c10::make_intrusive<c10d::PrefixStore>("cankit", tcp);
    if (b == "gloo") {
#ifdef CANKIT_WITH_GLOO
      auto o = c10d::ProcessGroupGloo::Options::create(ms(timeout_ms));
      // The address this rank's Gloo pairs listen on: the master address for one machine (loopback),
      // otherwise this host's own address (GLOO_SOCKET_IFNAME-style interface selection is left to Gloo).
      std::string host = addr ? addr : "127.0.0.1";
      if (host == "127.0.0.1" || host == "localhost")
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 2;
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, size, o);
#else
      no_dist("gloo");
#endif
    } else if (b == "nccl") {
#ifdef CANKIT_WITH_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = ms(timeout_ms);
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, size, o);
#else
      no_dist("nccl");
#endif
    } else {
      TORCH_CHECK(false, "unknown backend '", b, "' (expected gloo or nccl)");
    }
    return g.release();
#else
    no_dist(b == "nccl" ? "nccl" : "gloo");
#endif
  }
  CK_CATCH(nullptr)
}

CK_EXPORT void ck_group_free(ck_group g) {
#ifdef CANKIT_WITH_DIST
  try {
    delete g;
  } catch (...) {
  }
#endif
}

#ifdef CANKIT_WITH_DIST
#define CK_DIST(stmts) CK_STATUS(stmts)
#else
#define CK_DIST(stmts) CK_STATUS(no_dist("gloo"))
#endif

// Sums each tensor over all ranks, in place (any shapes; sent in flat buckets).
CK_EXPORT int ck_group_allreduce(ck_group g, const ck_tensor* ts, int n) {
  CK_DIST({
    if (g->size == 1 || n == 0) return 0;
    auto v = ck::list(ts, n);
    bucketed(v, kBucketBytes, [&](at::Tensor& flat) { g->allreduce(flat); });
  })
}

// Overwrites each tensor with root's, in place (any shapes; sent in flat buckets).
CK_EXPORT int ck_group_broadcast(ck_group g, const ck_tensor* ts, int n, int root) {
  CK_DIST({
    TORCH_CHECK(root >= 0 && root < g->size, "root ", root, " is outside [0, ", g->size, ")");
    if (g->size == 1 || n == 0) return 0;
    auto v = ck::list(ts, n);
    bucketed(v, kBucketBytes, [&](at::Tensor& flat) { g->broadcast(flat, root); });
  })
}

// Every rank's t (same shape everywhere), stacked along dim 0: [W·n, …]. No gradient.
CK_EXPORT ck_tensor ck_group_allgather(ck_group g, ck_tensor t) {
#ifdef CANKIT_WITH_DIST
  CK_TENSOR(g->allgather(*t))
#else
  CK_TENSOR((no_dist("gloo"), at::Tensor()))
#endif
}

// As ck_group_allgather, with the gradient of AllGatherFn.
CK_EXPORT ck_tensor ck_group_allgather_grad(ck_group g, ck_tensor t) {
#ifdef CANKIT_WITH_DIST
  CK_TENSOR(AllGatherFn::apply(*t, reinterpret_cast<int64_t>(g)))
#else
  CK_TENSOR((no_dist("gloo"), at::Tensor()))
#endif
}

CK_EXPORT int ck_group_barrier(ck_group g) {
  CK_DIST({
    if (g->size == 1) return 0;
    c10d::BarrierOptions o;
    o.timeout = g->timeout;
    g->wait(g->pg->barrier(o), "barrier");
  })
}

// Data-parallel gradient averaging: the gradients of `params` are flattened into buckets of at most
// bucket_bytes (one dtype per bucket), each bucket summed over ranks and multiplied by `scale` (1/W), then copied
// back. A parameter whose gradient is undefined on some ranks gets zeros there; one undefined on all ranks stays
// undefined, so the optimiser skips it exactly as a single process would.
CK_EXPORT int ck_group_average_grads(ck_group g, const ck_tensor* params, int n, int64_t bucket_bytes, double scale) {
  CK_DIST({
    TORCH_CHECK(bucket_bytes > 0, "bucket size must be > 0");
    if (g->size == 1 || n == 0) return 0;
    at::NoGradGuard no_grad;
    auto ps = ck::list(params, n);
    auto has = at::empty({n}, at::kInt);
    auto* h = has.data_ptr<int32_t>();
    for (int i = 0; i < n; i++) h[i] = ps[i].grad().defined() ? 1 : 0;
    auto flags = has.to(ps[0].device());
    g->allreduce(flags);
    auto any = flags.to(at::kCPU);
    auto* a = any.data_ptr<int32_t>();

    std::vector<at::Tensor> grads;
    for (int i = 0; i < n; i++) {
      if (a[i] == 0) continue;
      auto& gr = ps[i].mutable_grad();
      if (!gr.defined()) gr = at::zeros_like(ps[i]);
      grads.push_back(gr);
    }
    bucketed(grads, bucket_bytes, [&](at::Tensor& flat) {
      g->allreduce(flat);
      flat.mul_(scale);
    });
  })
}

CK_EXPORT int ck_group_rank(ck_group g) {
#ifdef CANKIT_WITH_DIST
  return g->rank;
#else
  return 0;
#endif
}

CK_EXPORT int ck_group_size(ck_group g) {
#ifdef CANKIT_WITH_DIST
  return g->size;
#else
  return 1;
#endif
}
