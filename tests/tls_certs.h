// Certificates made at test time with the openssl command line (Debian's
// openssl package): a CA, a server certificate for localhost / 127.0.0.1,
// client certificates signed by that CA, and a second, unrelated CA with a
// client certificate of its own. Nothing is checked in; each test's files
// live in its temporary directory.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace linkage::testing {

class TestCerts {
 public:
  // Makes the CA, the server certificate and the other CA under `dir`
  // (which must exist). ok() is false if openssl failed.
  explicit TestCerts(std::string dir) : dir_(std::move(dir)) {
    ok_ = MakeCa("ca") && MakeCa("other-ca") &&
          MakeLeaf("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth");
  }

  bool ok() const { return ok_; }

  // A client certificate with DNS SAN `identity` (or, if `cn_only`, only
  // the subject CN `identity`), signed by "ca" or "other-ca". Files
  // <name>.crt / <name>.key. False if openssl failed.
  // `cn` overrides the subject CN of a certificate with a DNS SAN.
  bool MakeClient(const std::string& name, const std::string& identity, bool cn_only = false,
                  const std::string& ca = "ca", const std::string& cn = "") {
    return MakeLeaf(name, ca, cn.empty() ? identity : cn, cn_only ? "" : "DNS:" + identity,
                    "clientAuth");
  }

  // Another server certificate for localhost / 127.0.0.1, signed by `ca`.
  bool MakeServer(const std::string& name, const std::string& ca) {
    return MakeLeaf(name, ca, "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth");
  }

  std::string Crt(const std::string& name) const { return dir_ + "/" + name + ".crt"; }
  std::string Key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  std::string Pem(const std::string& file) const {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  bool Run(const std::string& command) const {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
  }

  bool MakeCa(const std::string& name) const {
    return Run(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=" +
        name + "-test-root -keyout " + Key(name) + " -out " + Crt(name));
  }

  bool MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& san, const std::string& usage) const {
    const std::string ext = dir_ + "/" + name + ".ext";
    {
      std::ofstream out(ext, std::ios::trunc);
      out << "basicConstraints=CA:FALSE\nextendedKeyUsage=" << usage << "\n";
      if (!san.empty()) out << "subjectAltName=" << san << "\n";
    }
    const std::string csr = dir_ + "/" + name + ".csr";
    return Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" +
               cn + " -keyout " + Key(name) + " -out " + csr) &&
           Run("openssl x509 -req -in " + csr + " -CA " + Crt(ca) + " -CAkey " + Key(ca) +
               " -CAcreateserial -days 2 -extfile " + ext + " -out " + Crt(name));
  }

  std::string dir_;
  bool ok_ = false;
};

}  // namespace linkage::testing
