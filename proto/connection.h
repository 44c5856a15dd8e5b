// proto/connection.h: one control-plane TCP connection carrying frames (frame.h) over Asio.
//
// The coordinator's server and the worker's client both speak through this class, so framing,
// limits and close semantics live in one place (here, because neither of those two folders may
// depend on the other). It reads one frame at a time: a 16-byte header,
// checked against the set of types the owner currently accepts and their size caps, then the
// payload, CRC-checked, handed to the frame handler. Nothing larger than a header is allocated
// before the header passed. Writes are queued and sent in order; the queue is capped so a peer
// that stops reading cannot make us buffer without bound.
//
// A bad frame, EOF, a reset or an overfull queue closes the connection: the close handler runs
// exactly once, with a Status that says why ("connection closed by peer", "bad frame: ...").
// Recv of 0 bytes is an error (RELIABILITY.md 3.2), never a silent stop.
//
// Ownership: the owner holds a shared_ptr; pending operations hold one too, so the object lives
// until its last handler ran. Thread-safety: the socket must be bound to a strand (or an
// io_context run by one thread); every method must be called from that strand, and both handlers
// run on it.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "proto/frame.h"

namespace ringmaster::proto {

// Bytes a connection may have queued for sending before the peer counts as not reading.
inline constexpr size_t kMaxQueuedBytes = 64u << 20;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using FrameHandler = std::function<void(Frame frame)>;
  using CloseHandler = std::function<void(const Status& reason)>;

  // `peer_name` ("10.0.0.2:51234") names the peer in every log line and close reason.
  static std::shared_ptr<Connection> make(boost::asio::ip::tcp::socket socket,
                                          std::string peer_name);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts reading frames of the `accepted` types. Handlers run on the socket's strand; the
  // close handler runs once, after the last frame handler, and never from inside close().
  void start(TypeSet accepted, FrameHandler on_frame, CloseHandler on_close);
  // Changes the accepted types from the next header on (e.g. after authentication).
  void set_accepted(TypeSet accepted) { accepted_ = accepted; }
  // Hands the connection to a new owner: later frames and the close go to these handlers.
  // Safe from inside the current frame handler. No-op once closed.
  void set_handlers(FrameHandler on_frame, CloseHandler on_close);

  // Queues an encoded frame (encode_frame). No-op once closed.
  void send(std::vector<std::byte> frame);
  // Encodes and queues `message`; an encoding error closes the connection and is returned.
  template <typename T>
  Status send_message(const T& message) {
    StatusOr<std::vector<std::byte>> frame = encode_frame(message);
    if (!frame.ok()) {
      close(frame.status());
      return frame.status();
    }
    send(std::move(frame).value());
    return ok_status();
  }

  // Runs `fn` (once) as soon as the send queue is empty: now if it already is. Used to stream
  // results chunk by chunk without queueing them all.
  void when_drained(std::function<void()> fn);

  // Closes at once, dropping queued frames. Idempotent; the first reason wins.
  void close(const Status& reason);
  // Sends what is queued, then half-closes and waits for the peer to close (frames still arriving
  // are delivered); the close handler gets `reason`. Closes anyway after `timeout`.
  void close_after_flush(const Status& reason, std::chrono::milliseconds timeout);

  bool closed() const { return closed_; }
  size_t queued_bytes() const { return queued_bytes_; }
  const std::string& peer_name() const { return peer_name_; }
  // When the last complete frame arrived (start() counts as one), for heartbeat deadlines.
  std::chrono::steady_clock::time_point last_receive() const { return last_receive_; }

 private:
  Connection(boost::asio::ip::tcp::socket socket, std::string peer_name);

  void read_header();
  void read_payload(FrameHeader header);
  void deliver(FrameHeader header);
  void write_next();
  void half_close();
  void finish_close();

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer flush_timer_;
  std::string peer_name_;
  TypeSet accepted_ = 0;
  FrameHandler on_frame_;
  CloseHandler on_close_;

  std::array<std::byte, kFrameHeaderBytes> header_{};
  std::vector<std::byte> payload_;
  std::chrono::steady_clock::time_point last_receive_;

  std::deque<std::vector<std::byte>> queue_;  // front() is being written while writing_
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  std::function<void()> on_drained_;

  bool closed_ = false;
  bool closing_after_flush_ = false;
  Status close_reason_;
};

}  // namespace ringmaster::proto
