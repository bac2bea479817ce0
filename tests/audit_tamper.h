// What an operator with shell access can do to the audit log: open the
// stopped server's database with RocksDB itself and change, delete or cut
// off rows of the audit column family. For the audit tests.
#pragma once

#include <rocksdb/db.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace linkage::testing {

// The audit key of `seq`: 8 bytes big-endian.
inline std::string AuditRowKey(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) k[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
  return k;
}

// Opens the database at `path` (linkd stopped, its memtables flushed, as a
// SIGTERM leaves it) and runs fn on the audit column family.
inline bool WithAuditFamily(
    const std::string& path,
    const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& fn) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok()) return false;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  size_t audit = names.size();
  for (size_t i = 0; i < names.size(); ++i) {
    cfs.emplace_back(names[i], rocksdb::ColumnFamilyOptions());
    if (names[i] == "audit") audit = i;
  }
  if (audit == names.size()) return false;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(rocksdb::Options(), path, cfs, &handles, &raw).ok()) return false;
  fn(raw, handles[audit]);
  (void)raw->FlushWAL(true);
  for (auto* h : handles) (void)raw->DestroyColumnFamilyHandle(h);
  delete raw;
  return true;
}

// Every audit row, seq -> stored bytes.
inline std::map<uint64_t, std::string> AuditRows(const std::string& path) {
  std::map<uint64_t, std::string> rows;
  WithAuditFamily(path, [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t seq = 0;
      for (char c : it->key().ToString()) seq = (seq << 8) | static_cast<unsigned char>(c);
      rows[seq] = it->value().ToString();
    }
  });
  return rows;
}

inline bool PutAuditRow(const std::string& path, uint64_t seq, const std::string& bytes) {
  bool ok = false;
  WithAuditFamily(path, [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ok = db->Put(rocksdb::WriteOptions(), cf, AuditRowKey(seq), bytes).ok();
  });
  return ok;
}

// Deletes the rows first..last (inclusive).
inline bool DeleteAuditRows(const std::string& path, uint64_t first, uint64_t last) {
  bool ok = true;
  WithAuditFamily(path, [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    for (uint64_t s = first; s <= last; ++s)
      ok = ok && db->Delete(rocksdb::WriteOptions(), cf, AuditRowKey(s)).ok();
  });
  return ok;
}

}  // namespace linkage::testing
