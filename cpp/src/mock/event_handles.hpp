// RAII owners of the libevent objects the mock server creates.
#pragma once
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <memory>

namespace aiperf::mock {

struct EventConfigFree {
  void operator()(event_config* p) const noexcept { event_config_free(p); }
};
struct EventBaseFree {
  void operator()(event_base* p) const noexcept { event_base_free(p); }
};
struct EvhttpFree {
  void operator()(evhttp* p) const noexcept { evhttp_free(p); }
};
struct EventFree {
  void operator()(event* p) const noexcept { event_free(p); }
};
struct EvbufferFree {
  void operator()(evbuffer* p) const noexcept { evbuffer_free(p); }
};
struct ListenerFree {
  void operator()(evconnlistener* p) const noexcept { evconnlistener_free(p); }
};
using EventConfigPtr = std::unique_ptr<event_config, EventConfigFree>;
using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerFree>;

}  // namespace aiperf::mock
