// libcankit_gloo: the collectives TorchSharp lacks, over Gloo (Debian libgloo-dev), behind a plain C ABI.
//
// A group is a Gloo context whose rendezvous goes through a tiny TCP key-value store hosted by rank 0 on
// MASTER_ADDR:MASTER_PORT (Gloo ships file, hash and Redis stores only), so ranks can sit on different machines.
// Collectives work on raw CPU buffers (a TorchSharp tensor's data pointer): sum all-reduce of float32/float64,
// broadcast and all-gather of bytes, barrier. Every call waits at most the group's timeout; a peer that died makes
// the next collective fail with Gloo's "connection closed by peer" at once.
//
// No exception crosses the ABI: every entry point returns 0 on success or -1 with a message in the caller's buffer.
// After a failed collective the group is unusable (Gloo's pairs are closed); the caller disposes it.

#include <arpa/inet.h>
#include <cerrno>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

// ---- socket helpers ------------------------------------------------------------------------------------------

void sendAll(int fd, const void* data, size_t n) {
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) fail(errnoText("store: send"));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

// False when the peer closed the connection before the first byte.
bool recvAll(int fd, void* data, size_t n) {
  auto p = static_cast<char*>(data);
  size_t got = 0;
  while (got < n) {
    ssize_t k = ::recv(fd, p + got, n - got, 0);
    if (k == 0 && got == 0) return false;
    if (k <= 0) fail(k == 0 ? "store: connection closed" : errnoText("store: recv"));
    got += static_cast<size_t>(k);
  }
  return true;
}

void sendBlob(int fd, const std::string& s) {
  uint32_t n = htonl(static_cast<uint32_t>(s.size()));
  sendAll(fd, &n, 4);
  sendAll(fd, s.data(), s.size());
}

std::string recvBlob(int fd) {
  uint32_t n = 0;
  if (!recvAll(fd, &n, 4)) fail("store: connection closed");
  std::string s(ntohl(n), '\0');
  if (!s.empty()) recvAll(fd, &s[0], s.size());
  return s;
}

sockaddr_in resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) fail("cannot resolve MASTER_ADDR '" + host + "': " + gai_strerror(rc));
  sockaddr_in a = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  ::freeaddrinfo(res);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

// The local address this host uses to reach `master` (a UDP "connect" sends nothing): Gloo's device binds there,
// so peers on other machines can reach it. GLOO_SOCKET_IFNAME, when set, names the interface instead.
std::string localAddressTowards(const sockaddr_in& master) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) fail(errnoText("socket"));
  sockaddr_in self{};
  socklen_t len = sizeof self;
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&master), sizeof master) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0;
  ::close(fd);
  if (!ok) fail(errnoText("no route to MASTER_ADDR"));
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &self.sin_addr, buf, sizeof buf);
  return buf;
}

// ---- the rendezvous store ------------------------------------------------------------------------------------
// Requests: 'S' key value → 'k', or 'x' when the key is already set (each rank sets its own key once: a second
// setter is a rank of another run on the same MASTER_PORT); 'G' key → 'y' value | 'n'. The server is rank 0's,
// alive until every rank has connected its Gloo pairs (a barrier over Gloo follows the rendezvous).

class StoreServer {
 public:
  explicit StoreServer(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) fail(errnoText("store: socket"));
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 128) != 0) {
      std::string e = errnoText("rank 0 cannot listen on MASTER_PORT " + std::to_string(port));
      ::close(fd_);
      fail(e);
    }
    accepter_ = std::thread([this] { acceptLoop(); });
  }

  ~StoreServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accepter_.join();
    std::lock_guard<std::mutex> g(mu_);
    for (int c : clients_) ::shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int c : clients_) ::close(c);
  }

 private:
  void acceptLoop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::lock_guard<std::mutex> g(mu_);
      clients_.push_back(c);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) {
    try {
      char op;
      while (recvAll(c, &op, 1)) {
        std::string key = recvBlob(c);
        if (op == 'S') {
          std::string value = recvBlob(c);
          bool fresh;
          { std::lock_guard<std::mutex> g(mu_); fresh = data_.emplace(key, value).second; }
          sendAll(c, fresh ? "k" : "x", 1);
        } else {
          std::string value;
          bool found;
          {
            std::lock_guard<std::mutex> g(mu_);
            auto it = data_.find(key);
            found = it != data_.end();
            if (found) value = it->second;
          }
          sendAll(c, found ? "y" : "n", 1);
          if (found) sendBlob(c, value);
        }
      }
    } catch (...) {
      // a client went away mid-request; its rank reports the failure
    }
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread accepter_;
  std::mutex mu_;
  std::vector<int> clients_;
  std::vector<std::thread> workers_;
  std::map<std::string, std::string> data_;
};

class TcpStore : public gloo::rendezvous::Store {
 public:
  TcpStore(const sockaddr_in& master, const std::string& where, milliseconds timeout) : where_(where), timeout_(timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd_ < 0) fail(errnoText("store: socket"));
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&master), sizeof master) == 0) break;
      ::close(fd_);
      if (Clock::now() > deadline) fail("rank 0's store at " + where + " did not answer within the timeout");
      std::this_thread::sleep_for(milliseconds(50));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A store that accepts but never answers (another program on the port) fails within the timeout, not never.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~TcpStore() override { ::close(fd_); }

  void set(const std::string& key, const std::vector<char>& data) override {
    sendAll(fd_, "S", 1);
    sendBlob(fd_, key);
    sendBlob(fd_, std::string(data.begin(), data.end()));
    char ack = answer();
    if (ack == 'x')
      fail("rendezvous: rank " + key + " has already joined the group at " + where_ +
           ": another run is using this MASTER_PORT (give each run its own port)");
  }

  std::vector<char> get(const std::string& key) override {
    auto deadline = Clock::now() + timeout_;
    while (true) {
      sendAll(fd_, "G", 1);
      sendBlob(fd_, key);
      char found = answer();
      if (found == 'y') {
        std::string v = recvBlob(fd_);
        return std::vector<char>(v.begin(), v.end());
      }
      if (Clock::now() > deadline) fail("rendezvous: key '" + key + "' did not appear within the timeout (a rank did not start?)");
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

  // The store's one-byte answer to a request.
  char answer() {
    char c;
    ssize_t k = ::recv(fd_, &c, 1, 0);
    if (k == 1) return c;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      fail("rendezvous: the store at " + where_ + " did not answer within the timeout: " +
           "is another program or run using this MASTER_PORT?");
    fail(k == 0 ? "store: connection closed" : errnoText("store: recv"));
  }

  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const milliseconds&) override {
    for (const auto& k : keys) get(k);
  }

 private:
  int fd_ = -1;
  std::string where_;
  milliseconds timeout_;
};

struct Group {
  std::shared_ptr<gloo::rendezvous::Context> context;
  milliseconds timeout;
  uint32_t tag = 0;
};

// Every collective of a group waits at most its timeout and takes the next tag (calls match up in order on all ranks).
template <typename Options>
Options& prepared(Options& o, Group* g) {
  o.setTimeout(g->timeout);
  o.setTag(g->tag++);
  return o;
}

template <typename T>
void sumInPlace(gloo::AllreduceOptions& o, void* buffer, int64_t count) {
  auto p = static_cast<T*>(buffer);
  o.setInput(p, static_cast<size_t>(count));
  o.setOutput(p, static_cast<size_t>(count));
  o.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>));
}

int report(char* err, int errLen, const std::string& what) {
  if (err != nullptr && errLen > 0) {
    std::strncpy(err, what.c_str(), static_cast<size_t>(errLen) - 1);
    err[errLen - 1] = '\0';
  }
  return -1;
}

template <typename F>
int guarded(char* err, int errLen, F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    return report(err, errLen, e.what());
  } catch (...) {
    return report(err, errLen, "unknown native error");
  }
}

}  // namespace

extern "C" {

// Joins a group of `size` ranks; rank 0 hosts the store. Returns the group, or null with a message in `err`.
void* ckg_create(const char* masterAddr, int masterPort, int rank, int size, int timeoutMs, char* err, int errLen) {
  Group* result = nullptr;
  guarded(err, errLen, [&] {
    if (size < 1 || rank < 0 || rank >= size) fail("rank " + std::to_string(rank) + " is outside [0, " + std::to_string(size) + ")");
    if (masterPort < 1 || masterPort > 65535) fail("MASTER_PORT " + std::to_string(masterPort) + " is outside 1…65535");
    auto timeout = milliseconds(timeoutMs);
    std::string where = std::string(masterAddr) + ":" + std::to_string(masterPort);
    sockaddr_in master = resolve(masterAddr, masterPort);
    std::unique_ptr<StoreServer> server;
    if (rank == 0) server.reset(new StoreServer(masterPort));
    TcpStore store(master, where, timeout);

    gloo::transport::tcp::attr attr;
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    if (iface != nullptr && *iface != '\0') attr.iface = iface;
    else attr.hostname = localAddressTowards(master);
    auto device = gloo::transport::tcp::CreateDevice(attr);

    auto g = std::make_unique<Group>();
    g->timeout = timeout;
    g->context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    g->context->setTimeout(timeout);
    g->context->connectFullMesh(store, device);
    // Everyone is connected before rank 0's store goes away.
    gloo::BarrierOptions b(g->context);
    b.setTimeout(timeout);
    gloo::barrier(b);
    result = g.release();
  });
  return result;
}

void ckg_destroy(void* group) { delete static_cast<Group*>(group); }

int ckg_rank(void* group) { return static_cast<Group*>(group)->context->rank; }
int ckg_size(void* group) { return static_cast<Group*>(group)->context->size; }

// Sums `count` elements of `buffer` over all ranks, in place. dtype: 0 float32, 1 float64.
int ckg_allreduce_sum(void* group, void* buffer, int64_t count, int dtype, char* err, int errLen) {
  return guarded(err, errLen, [&] {
    auto g = static_cast<Group*>(group);
    gloo::AllreduceOptions o(g->context);
    prepared(o, g);
    if (dtype == 0) sumInPlace<float>(o, buffer, count);
    else if (dtype == 1) sumInPlace<double>(o, buffer, count);
    else fail("all-reduce: unsupported dtype code " + std::to_string(dtype));
    gloo::allreduce(o);
  });
}

// Overwrites `bytes` bytes of `buffer` with root's.
int ckg_broadcast(void* group, void* buffer, int64_t bytes, int root, char* err, int errLen) {
  return guarded(err, errLen, [&] {
    auto g = static_cast<Group*>(group);
    gloo::BroadcastOptions o(g->context);
    prepared(o, g).setRoot(root);
    auto p = static_cast<uint8_t*>(buffer);
    if (g->context->rank == root) o.setInput(p, static_cast<size_t>(bytes));
    o.setOutput(p, static_cast<size_t>(bytes));
    gloo::broadcast(o);
  });
}

// Every rank's `bytes` bytes of `input`, in rank order, into `output` (size × bytes).
int ckg_allgather(void* group, const void* input, void* output, int64_t bytes, char* err, int errLen) {
  return guarded(err, errLen, [&] {
    auto g = static_cast<Group*>(group);
    gloo::AllgatherOptions o(g->context);
    prepared(o, g);
    o.setInput(const_cast<uint8_t*>(static_cast<const uint8_t*>(input)), static_cast<size_t>(bytes));
    o.setOutput(static_cast<uint8_t*>(output), static_cast<size_t>(bytes) * static_cast<size_t>(g->context->size));
    gloo::allgather(o);
  });
}

int ckg_barrier(void* group, char* err, int errLen) {
  return guarded(err, errLen, [&] {
    auto g = static_cast<Group*>(group);
    gloo::BarrierOptions o(g->context);
    gloo::barrier(prepared(o, g));
  });
}

}  // extern "C"
