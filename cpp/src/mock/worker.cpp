// A mock server loop thread: creates its libevent objects, routes every request, and tears down in the order
// libevent needs when the loop stops.
#include "worker.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "aiperf/common/error.hpp"

namespace aiperf::mock {
namespace {

// Precise timers (timerfd, CLOCK_MONOTONIC) and no cached loop time: token due times stay microsecond-exact.
EventBasePtr make_base() {
  EventConfigPtr event_config(event_config_new());
  event_config_set_flag(event_config.get(), EVENT_BASE_FLAG_PRECISE_TIMER);
  event_config_set_flag(event_config.get(), EVENT_BASE_FLAG_NO_CACHE_TIME);
  EventBasePtr base(event_base_new_with_config(event_config.get()));
  if (!base) throw Error("mock server: event_base_new failed");
  return base;
}

}  // namespace

Worker::Worker(const MockServerConfig& config, int index, int port, std::shared_ptr<ImageCache> images,
               TimingLog* timing_log)
    : base_(make_base()),
      http_(evhttp_new(base_.get())),
      stop_event_(event_new(base_.get(), -1, 0, &Worker::on_stop, this)),
      timing_(timing_log ? std::make_unique<TimingRecorder>(*timing_log, index) : nullptr),
      replies_(base_.get(), std::llround(config.itl_ms * 1e6), config.huge_response_bytes, counters_, timing_.get()),
      router_(config, index, port, std::move(images), replies_, counters_, timing_.get()) {
  if (!http_ || !stop_event_) throw Error("mock server: libevent allocation failed");
  evhttp_set_gencb(http_.get(), &Worker::on_request, this);
}

void Worker::listen(FileDescriptor fd) {
  ListenerPtr listener(
      evconnlistener_new(base_.get(), nullptr, nullptr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 4096, fd.get()));
  if (!listener) throw Error(std::string("mock server: listen: ") + std::strerror(errno));
  fd.release();
  if (!evhttp_bind_listener(http_.get(), listener.get())) throw Error("mock server: evhttp_bind_listener failed");
  listener.release();  // the evhttp frees its bound listeners
}

void Worker::run() {
  event_base_dispatch(base_.get());
  replies_.shutdown();
  {
    std::lock_guard lock(stop_mutex_);
    stop_event_.reset();
  }
  http_.reset();  // closes the listener and every connection, freeing their requests
  base_.reset();
  if (timing_) timing_->flush();
}

void Worker::request_stop() {
  std::lock_guard lock(stop_mutex_);
  if (stop_event_) event_active(stop_event_.get(), EV_TIMEOUT, 0);
}

void Worker::on_stop(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<Worker*>(arg)->base_.get());
}

void Worker::on_request(evhttp_request* request, void* arg) { static_cast<Worker*>(arg)->router_.handle(request); }

}  // namespace aiperf::mock
