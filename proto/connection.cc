#include "proto/connection.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace ringmaster::proto {

namespace asio = boost::asio;

namespace {

Status read_error(const boost::system::error_code& ec) {
  if (ec == asio::error::eof) return unavailable("connection closed by peer");
  return unavailable("connection lost: " + ec.message());
}

}  // namespace

std::shared_ptr<Connection> Connection::make(asio::ip::tcp::socket socket, std::string peer_name) {
  // Not make_shared: the constructor is private so every Connection is shared-owned.
  return std::shared_ptr<Connection>(new Connection(std::move(socket), std::move(peer_name)));
}

Connection::Connection(asio::ip::tcp::socket socket, std::string peer_name)
    : socket_(std::move(socket)),
      flush_timer_(socket_.get_executor()),
      peer_name_(std::move(peer_name)),
      last_receive_(std::chrono::steady_clock::now()) {
  boost::system::error_code ignored;
  // Control frames are small and latency matters more than packet count (heartbeats).
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

void Connection::start(TypeSet accepted, FrameHandler on_frame, CloseHandler on_close) {
  accepted_ = accepted;
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
  last_receive_ = std::chrono::steady_clock::now();
  read_header();
}

void Connection::set_handlers(FrameHandler on_frame, CloseHandler on_close) {
  if (closed_) return;
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
}

void Connection::read_header() {
  if (closed_) return;
  asio::async_read(socket_, asio::buffer(header_),
                   [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                     if (self->closed_) return;
                     if (ec) return self->close(read_error(ec));
                     StatusOr<FrameHeader> header =
                         parse_frame_header(self->header_, self->accepted_);
                     if (!header.ok()) {
                       return self->close(header.status().with_context("bad frame"));
                     }
                     self->read_payload(*header);
                   });
}

void Connection::read_payload(FrameHeader header) {
  // The header passed its per-type cap, so this allocation is bounded by max_frame_length.
  payload_.assign(header.length, std::byte{0});
  if (header.length == 0) return deliver(header);
  asio::async_read(
      socket_, asio::buffer(payload_),
      [self = shared_from_this(), header](const boost::system::error_code& ec, size_t) {
        if (self->closed_) return;
        if (ec) return self->close(read_error(ec));
        self->deliver(header);
      });
}

void Connection::deliver(FrameHeader header) {
  if (Status status = check_payload(header, payload_); !status.ok()) {
    return close(status.with_context("bad frame"));
  }
  last_receive_ = std::chrono::steady_clock::now();
  Frame frame{header.type, std::move(payload_)};
  payload_ = {};
  // A copy: the handler may close(), which clears on_frame_ while the handler still runs.
  const FrameHandler handler = on_frame_;
  if (handler) handler(std::move(frame));
  read_header();
}

void Connection::send(std::vector<std::byte> frame) {
  if (closed_ || closing_after_flush_) return;
  if (queued_bytes_ + frame.size() > kMaxQueuedBytes) {
    return close(
        unavailable("peer is not reading: " + std::to_string(queued_bytes_) + " bytes queued"));
  }
  queued_bytes_ += frame.size();
  queue_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Connection::write_next() {
  if (closed_) return;
  if (queue_.empty()) {
    writing_ = false;
    if (closing_after_flush_) return half_close();
    if (on_drained_) {
      auto fn = std::move(on_drained_);
      on_drained_ = nullptr;
      fn();
    }
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(queue_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      if (self->closed_) return;
                      if (ec) return self->close(unavailable("send failed: " + ec.message()));
                      self->queued_bytes_ -= self->queue_.front().size();
                      self->queue_.pop_front();
                      self->write_next();
                    });
}

void Connection::when_drained(std::function<void()> fn) {
  if (closed_) return;
  if (!writing_ && queue_.empty()) return fn();
  on_drained_ = std::move(fn);
}

void Connection::close(const Status& reason) {
  if (closed_) return;
  if (!closing_after_flush_) close_reason_ = reason;
  finish_close();
}

void Connection::close_after_flush(const Status& reason, std::chrono::milliseconds timeout) {
  if (closed_ || closing_after_flush_) return;
  closing_after_flush_ = true;
  close_reason_ = reason;
  flush_timer_.expires_after(timeout);
  flush_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->finish_close();
  });
  if (!writing_ && queue_.empty()) half_close();
}

void Connection::half_close() {
  // FIN after the last queued byte; reading goes on until the peer closes too. Closing outright
  // with unread bytes (a heartbeat in flight) would make the kernel send RST, which can destroy
  // the frame we just sent before the peer reads it.
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void Connection::finish_close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  flush_timer_.cancel();
  queue_.clear();
  queued_bytes_ = 0;
  on_drained_ = nullptr;
  // Posted, so an owner that closes connections while iterating over them never re-enters.
  if (on_close_) {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), handler = std::move(on_close_)]() {
                 handler(self->close_reason_);
               });
    on_close_ = nullptr;
  }
  on_frame_ = nullptr;
}

}  // namespace ringmaster::proto
