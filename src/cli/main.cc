// linkctl: the operator's command line for linkd.
//
//   linkctl --server HOST:PORT [--tls-ca F [--tls-cert F --tls-key F | --token-file F]] CMD
//   linkctl --server HOST:PORT import --dataset NAME FILE
//   linkctl --server HOST:PORT verify --against DATASET --input FILE --output FILE
//   linkctl --server HOST:PORT match --name "..." --dob ... [--json]
//   linkctl stats | get | check | model show | health | gen | ...
//
// Each command registers itself (command.h); this file holds the global
// options, parses, runs the chosen command and maps the outcome to the exit
// code: 0 success, 1 failure, 2 usage error.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "command.h"

int main(int argc, char** argv) {
  using namespace linkage::cli;
  CLI::App app{"linkctl: operate a linkd record-linkage server"};
  app.require_subcommand(1);
  CommandContext ctx;
  app.add_option("--server", ctx.global.server,
                 "linkd address host:port, or several behind one name (dns:///readers:50051, "
                 "ipv4:a:p,b:p): round-robin over those SERVING")
      ->capture_default_str();
  app.add_option("--timeout", ctx.global.timeout_seconds, "Seconds per call")
      ->capture_default_str();
  ChannelSecurity& sec = ctx.global.security;
  app.add_option("--tls-ca", sec.ca_file, "CA (PEM) to verify linkd's certificate; turns TLS on")
      ->envname("LINKCTL_TLS_CA");
  app.add_option("--tls-cert", sec.cert_file, "Client certificate (PEM), with --tls-key")
      ->envname("LINKCTL_TLS_CERT");
  app.add_option("--tls-key", sec.key_file, "Client private key (PEM)")->envname("LINKCTL_TLS_KEY");
  app.add_option("--tls-server-name", sec.server_name,
                 "Name linkd's certificate must carry, if not the --server host")
      ->envname("LINKCTL_TLS_SERVER_NAME");
  app.add_option("--token-file", sec.token_file,
                 "File holding a bearer token, sent on every call (TLS only)")
      ->envname("LINKCTL_TOKEN_FILE");
  RegisterCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  if (!ctx.chosen()) return kUsage;
  if (const absl::Status loaded = sec.Load(); !loaded.ok()) {
    std::fprintf(stderr, "linkctl: %s\n", std::string(loaded.message()).c_str());
    return kUsage;
  }
  const absl::Status status = ctx.RunChosen();
  if (status.ok()) return kOk;
  if (!IsAlreadyReported(status)) {
    std::fprintf(stderr, "linkctl: %s\n", std::string(status.message()).c_str());
  }
  return kFailure;
}
