// lattice-taskboard: a console task board on a Lattice room, and a small
// tour of sdk::Client. Run several against one room (see README.md): each
// edits its local replica at once, works offline with --data_dir, and
// converges with the others on reconnect.
//
//   lattice-taskboard --port=7700 --token_file=ada.jwt --data_dir=/tmp/ada
//   > add t1 Write the spec
//   > move t1 doing
//   > assign t1 ada
//   > done t1
//
// --run="add t1 Spec; move t1 doing" runs commands, prints "stored", waits
// until the server acknowledged them (--sync_timeout_s), prints "synced"
// and exits: for scripts and tests.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "sdk/client.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "examples/taskboard/board.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server host");
ABSL_FLAG(uint16_t, port, 7700, "server port");
ABSL_FLAG(std::string, token, "", "JWT (empty: anonymous server)");
ABSL_FLAG(std::string, token_file, "",
          "file holding the JWT, read again before every connect");
ABSL_FLAG(std::string, room, "board", "the room of the board");
ABSL_FLAG(std::string, data_dir, "",
          "local store directory (offline-first); empty: memory only");
ABSL_FLAG(std::string, run, "",
          "commands separated by ';' to run, then wait until synced and exit");
ABSL_FLAG(int, sync_timeout_s, 30, "with --run: how long to wait for acks");

namespace lattice::examples {
namespace {

absl::Mutex out_mu;  // the console is shared with the client's callbacks

void Print(const std::string& text) {
  absl::MutexLock lock(&out_mu);
  std::cout << text << std::flush;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read token file " + path);
  std::string token;
  std::getline(in, token);
  return std::string(absl::StripAsciiWhitespace(token));
}

// Runs one command line; returns false for "quit".
bool RunCommand(sdk::Client& client, sdk::Room& room, const std::string& line) {
  std::vector<std::string> words =
      absl::StrSplit(line, ' ', absl::SkipWhitespace());
  if (words.empty()) return true;
  const std::string& cmd = words[0];
  auto arg = [&](size_t i) { return i < words.size() ? words[i] : ""; };
  auto edit = [&](auto fn) {
    absl::Status s = room.Edit(kTasksDoc, fn);
    if (!s.ok()) Print("error: " + s.ToString() + "\n");
  };
  if (cmd == "add" && words.size() >= 3) {
    const std::string title =
        absl::StrJoin(words.begin() + 2, words.end(), " ");
    edit([&](crdt::Doc& d) { return AddTask(d, arg(1), title); });
  } else if (cmd == "move" && words.size() == 3) {
    edit([&](crdt::Doc& d) { return MoveTask(d, arg(1), arg(2)); });
  } else if (cmd == "assign" && words.size() == 3) {
    edit([&](crdt::Doc& d) { return AssignTask(d, arg(1), arg(2)); });
  } else if (cmd == "done" && words.size() == 2) {
    edit([&](crdt::Doc& d) { return CompleteTask(d, arg(1)); });
  } else if (cmd == "show") {
    std::string text;
    (void)room.Read(kTasksDoc,
                    [&](const crdt::Doc& d) { text = Render(ReadTasks(d)); });
    Print(text.empty() ? "(empty board)\n" : text);
  } else if (cmd == "status") {
    sdk::RoomSyncStatus st = room.status();
    Print(absl::StrCat("connection: ", sdk::ConnectionStateName(client.state()),
                       "; room joined: ", st.joined ? "yes" : "no",
                       "; pending edits: ", st.pending, "\n"));
  } else if (cmd == "quit" || cmd == "exit") {
    return false;
  } else {
    Print(
        "commands: add <id> <title>, move <id> <column>, assign <id> <user>,"
        " done <id>, show, status, quit\n");
  }
  return true;
}

int Main() {
  sdk::ClientOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.token = absl::GetFlag(FLAGS_token);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.client_name = "lattice-taskboard";
  if (const std::string file = absl::GetFlag(FLAGS_token_file); !file.empty()) {
    // Asked before every connect, so a refreshed file is picked up.
    options.token_provider = [file] { return ReadTokenFile(file); };
  }
  const bool scripted = !absl::GetFlag(FLAGS_run).empty();
  if (!scripted) {
    options.on_connection = [](const sdk::ConnectionEvent& e) {
      std::string line =
          absl::StrCat("[", sdk::ConnectionStateName(e.state), "]");
      if (e.state == sdk::ConnectionState::kDisconnected) {
        absl::StrAppend(&line, " ", e.close_code, " ", e.reason,
                        e.will_retry ? "" : " (not retrying)");
      } else if (e.state == sdk::ConnectionState::kReconnecting) {
        absl::StrAppend(&line, " attempt ", e.attempt, " in ",
                        absl::FormatDuration(e.delay));
      }
      Print(line + "\n");
    };
  }
  auto client = sdk::Client::Create(std::move(options));
  if (!client.ok()) {
    std::cerr << client.status() << "\n";
    return 1;
  }
  auto room = (*client)->Join(absl::GetFlag(FLAGS_room));
  if (!room.ok()) {
    std::cerr << room.status() << "\n";
    return 1;
  }
  if (scripted) {
    for (absl::string_view cmd :
         absl::StrSplit(absl::GetFlag(FLAGS_run), ';')) {
      RunCommand(**client, *room, std::string(cmd));
    }
    Print("stored\n");  // in the local store (with --data_dir)
    absl::Status synced =
        room->WaitSynced(absl::Seconds(absl::GetFlag(FLAGS_sync_timeout_s)));
    if (!synced.ok()) {
      std::cerr << synced << "\n";
      return 2;
    }
    Print("synced\n");
    return 0;
  }
  room->OnChange([room = *room](const sdk::DocChange& change) {
    if (change.local) return;  // our own edits are shown by "show"
    std::string text;
    (void)room.Read(kTasksDoc,
                    [&](const crdt::Doc& d) { text = Render(ReadTasks(d)); });
    Print("-- board changed --\n" + text);
  });
  Print("type 'help' for commands\n");
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!RunCommand(**client, *room, line)) break;
  }
  return 0;
}

}  // namespace
}  // namespace lattice::examples

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return lattice::examples::Main();
}
