// The socket types of every accepted server connection (HTTP and WebSocket).
//
// Its executor is the connection's strand as a concrete type. Beast's
// tcp_stream type-erases it as any_io_executor, and each async operation
// then copies, queries and converts that executor: about 5% of the server's
// CPU under presence fan-out went to any_executor's prefer/require/copy
// (perf), plus a heap block per erased copy of a strand.
#ifndef LATTICE_NET_INTERNAL_CONNECTION_STREAM_H_
#define LATTICE_NET_INTERNAL_CONNECTION_STREAM_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>

namespace lattice::net::internal {

using ConnectionStrand =
    boost::asio::strand<boost::asio::io_context::executor_type>;
using ConnectionStream =
    boost::beast::basic_stream<boost::asio::ip::tcp, ConnectionStrand>;
// What a WebSocket keeps once the upgrade is done: the bare socket. Beast's
// handshake has its own timer and the idle checks are in the server's
// deadline queue, so the HTTP layer's timer state (half a KiB per
// connection) is dropped with the upgrade.
using ConnectionSocket = ConnectionStream::socket_type;

}  // namespace lattice::net::internal

#endif  // LATTICE_NET_INTERNAL_CONNECTION_STREAM_H_
