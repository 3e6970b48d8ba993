// One loop thread of the mock server: its event_base, evhttp and SO_REUSEPORT listener, wired to a router (what to
// answer) and a reply scheduler (when and how it goes out).
#pragma once
#include <memory>
#include <mutex>

#include "aiperf/common/fd.hpp"
#include "aiperf/mock/images.hpp"
#include "aiperf/mock/server.hpp"
#include "aiperf/mock/timing_log.hpp"
#include "counters.hpp"
#include "event_handles.hpp"
#include "reply_scheduler.hpp"
#include "router.hpp"

namespace aiperf::mock {

class Worker {
 public:
  Worker(const MockServerConfig& config, int index, int port, std::shared_ptr<ImageCache> images,
         TimingLog* timing_log);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void listen(FileDescriptor fd);
  // The loop thread: serve until stopped, then free every libevent object here, so the port closes now.
  void run();
  void request_stop();  // any thread
  const Counters& counters() const { return counters_; }

 private:
  static void on_stop(evutil_socket_t, short, void* arg);
  static void on_request(evhttp_request* request, void* arg);

  // Declared before everything that lives on the base, so it is destroyed last.
  EventBasePtr base_;
  EvhttpPtr http_;
  std::mutex stop_mutex_;
  EventPtr stop_event_;
  Counters counters_;
  std::unique_ptr<TimingRecorder> timing_;  // --timing-log only
  ReplyScheduler replies_;
  Router router_;
};

}  // namespace aiperf::mock
