// lattice-cursor-bot: N simulated users in one room, moving their cursors
// along circles and now and then typing a line, all through sdk::Client.
// A demo to watch next to real clients (e.g. lattice-taskboard) and a
// presence load source: every bot sends a cursor per tick (throttled by
// the SDK to one per 50 ms, latest wins) and a typing burst every few
// seconds. All bots share one io_context run by --threads threads (the
// SDK's "caller's io_context" mode). Prints one line of counts a second.
//
//   lattice-cursor-bot --port=7700 --users=20 --seconds=30 --token=$JWT
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "sdk/client.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server host");
ABSL_FLAG(uint16_t, port, 7700, "server port");
ABSL_FLAG(std::string, token, "",
          "JWT shared by every bot (empty: anonymous server)");
ABSL_FLAG(std::string, room, "board", "the room");
ABSL_FLAG(int, users, 10, "simulated users");
ABSL_FLAG(int, seconds, 30, "how long to run (at most 3600)");
ABSL_FLAG(int, tick_ms, 20, "cursor move period per user");
ABSL_FLAG(int, type_every_s, 3, "each user types a burst this often");
ABSL_FLAG(int, threads, 2, "threads running the shared io_context");

namespace lattice::examples {
namespace {

struct Counts {
  std::atomic<uint64_t> moves{0};
  std::atomic<uint64_t> edits{0};
  std::atomic<uint64_t> presence_events{0};
};

struct Bot {
  std::unique_ptr<sdk::Client> client;
  std::optional<sdk::Room> room;
  std::string line;  // the key of this bot's line in document "notes"
};

// Appends `c` to the bot's own text line (one text per bot, so that bots
// never create the same container concurrently).
absl::Status TypeChar(crdt::Doc& doc, const std::string& line, char c) {
  auto text = doc.MapGetContainer(crdt::kRootId, line);
  if (!text.ok()) {
    text = doc.MapSetContainer(crdt::kRootId, line, crdt::ContainerType::kText);
  }
  if (!text.ok()) return text.status();
  auto length = doc.Length(*text);
  if (!length.ok()) return length.status();
  if (*length > 200) return doc.TextDelete(*text, 0, *length);
  return doc.TextInsert(*text, *length, std::string(1, c));
}

int Main() {
  const int users = std::clamp(absl::GetFlag(FLAGS_users), 1, 10000);
  const int threads = std::clamp(absl::GetFlag(FLAGS_threads), 1, 64);
  const absl::Duration run_for =
      absl::Seconds(std::clamp(absl::GetFlag(FLAGS_seconds), 1, 3600));
  const absl::Duration tick =
      absl::Milliseconds(std::max(1, absl::GetFlag(FLAGS_tick_ms)));
  const int type_every_ticks =
      std::max(1, static_cast<int>(
                      absl::Seconds(absl::GetFlag(FLAGS_type_every_s)) / tick));

  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::thread> runners;
  for (int i = 0; i < threads; ++i) runners.emplace_back([&] { ioc.run(); });

  Counts counts;
  std::vector<Bot> bots(static_cast<size_t>(users));
  for (int i = 0; i < users; ++i) {
    sdk::ClientOptions o;
    o.host = absl::GetFlag(FLAGS_host);
    o.port = absl::GetFlag(FLAGS_port);
    o.token = absl::GetFlag(FLAGS_token);
    o.client_name = absl::StrCat("cursor-bot/", i);
    auto client = sdk::Client::Create(std::move(o), ioc);
    if (!client.ok()) {
      std::cerr << client.status() << "\n";
      return 1;
    }
    Bot& bot = bots[static_cast<size_t>(i)];
    bot.client = *std::move(client);
    auto room = bot.client->Join(absl::GetFlag(FLAGS_room));
    if (!room.ok()) {
      std::cerr << room.status() << "\n";
      return 1;
    }
    room->OnPresence([&counts](const std::vector<crdt::SessionChange>& c) {
      counts.presence_events += c.size();
    });
    bot.room = *room;
    bot.line = absl::StrCat("bot-", i);
  }

  const absl::Time start = absl::Now();
  absl::Time next_report = start + absl::Seconds(1);
  for (int64_t t = 0; absl::Now() - start < run_for; ++t) {
    for (int i = 0; i < users; ++i) {
      Bot& bot = bots[static_cast<size_t>(i)];
      // A circle per bot, phase-shifted so that they spread out.
      const double a = 0.05 * static_cast<double>(t) + i;
      bot.room->SetCursor(crdt::Point{400 + 300 * std::cos(a) * (1 + i % 3),
                                      300 + 200 * std::sin(a)});
      ++counts.moves;
      // Each bot types a short burst once per period, staggered.
      const int64_t phase = (t + i * 7) % type_every_ticks;
      if (phase < 5) {
        bot.room->StartTyping("notes");
        const char c = static_cast<char>('a' + (t + i) % 26);
        if (bot.room
                ->Edit("notes",
                       [&](crdt::Doc& d) { return TypeChar(d, bot.line, c); })
                .ok()) {
          ++counts.edits;
        }
      }
    }
    if (absl::Now() >= next_report) {
      int connected = 0;
      uint64_t pending = 0;
      for (const Bot& bot : bots) {
        connected += bot.client->state() == sdk::ConnectionState::kConnected;
        pending += bot.room->status().pending;
      }
      std::cout << absl::StrCat(
                       "t=", absl::ToInt64Seconds(absl::Now() - start),
                       "s connected=", connected, "/", users,
                       " moves=", counts.moves.load(),
                       " edits=", counts.edits.load(), " pending=", pending,
                       " presence_events=", counts.presence_events.load())
                << std::endl;
      next_report += absl::Seconds(1);
    }
    absl::SleepFor(tick);
  }
  bots.clear();  // closes every connection (1000)
  work.reset();
  for (std::thread& r : runners) r.join();
  return 0;
}

}  // namespace
}  // namespace lattice::examples

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return lattice::examples::Main();
}
