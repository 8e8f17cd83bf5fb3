#ifndef TOYDB_SIM_SIM_NODE_H_
#define TOYDB_SIM_SIM_NODE_H_

// SimNode: one simulated machine. It owns a disk (a MemEnv that outlives
// crashes) and, while up, a process (the protocol under test) built by a
// factory from that disk. Crash() cuts the power: from that instant the
// process can no longer touch the disk (its IncarnationEnv refuses every
// call), the disk loses what was not synced, and then the process and all its
// memory are destroyed (its destructors run, as C++ requires, but can change
// nothing on disk). Start() builds a new process from what the disk kept.
// Owned by the Simulator; single-threaded.

#include <cstdint>
#include <functional>
#include <memory>

#include "sim/incarnation_env.h"
#include "sim/rng.h"
#include "sim/scheduler.h"
#include "sim/sim_network.h"
#include "sim/trace.h"
#include "toydb/clock.h"
#include "toydb/mem_env.h"
#include "toydb/transport.h"

namespace toydb::sim {

// Timers for a process, implemented by its SimNode. A timer set before a
// crash never fires after it. Single-threaded, like the whole simulator.
class Timers {
 public:
  virtual ~Timers() = default;
  // Calls the process's OnTimer(timer_id) after `delay_micros`.
  // ResourceExhausted beyond SimNode::kMaxPendingTimers.
  [[nodiscard]] virtual Status SetTimer(int64_t delay_micros, uint64_t timer_id) = 0;
};

// What a process may touch. Everything is simulated; nothing is owned by the
// process, and all of it outlives the process.
struct NodeContext {
  NodeId id = 0;
  Env* disk = nullptr;
  Clock* clock = nullptr;
  Transport* transport = nullptr;
  Timers* timers = nullptr;
  Rng* rng = nullptr;  // reseeded at every start
};

// The code that runs on a node. Its state lives in memory and dies in a crash;
// only what it synced to ctx.disk survives.
class SimProcess {
 public:
  virtual ~SimProcess() = default;
  virtual void OnMessage(const Message& message) = 0;
  virtual void OnPeerUnreachable(NodeId /*peer*/) {}
  virtual void OnTimer(uint64_t timer_id) = 0;
};

enum class CrashMode : uint8_t {
  kDropUnsynced = 0,  // every unsynced byte is lost
  kTornWrite = 1,     // each file keeps a random prefix of its unsynced bytes
};

class SimNode final : public Transport::Handler, public Timers {
 public:
  static constexpr uint64_t kMaxPendingTimers = 1024;

  // Builds the process from the disk (recovery). An error leaves the node down.
  using Factory = std::function<StatusOr<std::unique_ptr<SimProcess>>(const NodeContext&)>;

  // Does not own the pointers. The node starts down: call Start().
  SimNode(NodeId id, Scheduler* scheduler, Clock* clock, SimNetwork* network, Trace* trace, Rng rng,
          Factory factory);
  ~SimNode() override;
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  // Boots the process from the disk and joins the network. FailedPrecondition
  // if already up.
  [[nodiscard]] Status Start();
  // Power cut: leaves the network, stops the process's disk access, makes the
  // disk forget unsynced data per `mode`, then drops the process. No-op if
  // down.
  void Crash(CrashMode mode);

  bool up() const { return process_ != nullptr; }
  NodeId id() const { return id_; }
  uint64_t incarnation() const { return incarnation_; }
  MemEnv& disk() { return disk_; }
  // The disk as the current (or, after a crash, the last) incarnation saw it.
  IncarnationEnv* incarnation_env() { return incarnation_env_.get(); }
  SimProcess* process() { return process_.get(); }

  // --- Transport::Handler ---
  void OnMessage(const Message& message) override;
  void OnPeerUnreachable(NodeId peer) override;
  // --- Timers ---
  Status SetTimer(int64_t delay_micros, uint64_t timer_id) override;

 private:
  void FireTimer(uint64_t incarnation, uint64_t timer_id);
  void Record(TraceKind kind, uint64_t detail);

  const NodeId id_;
  Scheduler* const scheduler_;
  Clock* const clock_;
  SimNetwork* const network_;
  Trace* const trace_;
  Rng rng_;          // the node's own stream; seeds each incarnation's
  Rng process_rng_;  // the current incarnation's stream
  Factory factory_;
  MemEnv disk_;
  // Declared before process_ so that it outlives the process it serves.
  std::unique_ptr<IncarnationEnv> incarnation_env_;
  std::unique_ptr<SimProcess> process_;
  uint64_t incarnation_ = 0;
  uint64_t pending_timers_ = 0;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_SIM_NODE_H_
