#include "io/vcf.h"

#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/kseq.h>
#include <htslib/vcf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ringmaster::io {
namespace {

// htslib reports through its own log on stderr; ours are the messages, so it is silenced while
// a call runs (its level is process-wide: see the header's thread-safety note).
class QuietHtslib {
 public:
  QuietHtslib() : saved_(hts_get_log_level()) { hts_set_log_level(HTS_LOG_OFF); }
  ~QuietHtslib() { hts_set_log_level(saved_); }
  QuietHtslib(const QuietHtslib&) = delete;
  QuietHtslib& operator=(const QuietHtslib&) = delete;

 private:
  htsLogLevel saved_;
};

struct HtsFileCloser {
  void operator()(htsFile* file) const {
    if (file != nullptr) hts_close(file);
  }
};
using HtsFilePtr = std::unique_ptr<htsFile, HtsFileCloser>;
struct BcfRecordDeleter {
  void operator()(bcf1_t* record) const { bcf_destroy(record); }
};
using BcfRecordPtr = std::unique_ptr<bcf1_t, BcfRecordDeleter>;
struct BcfHeaderDeleter {
  void operator()(bcf_hdr_t* header) const { bcf_hdr_destroy(header); }
};

// Opens `path` for reading; fails unless htslib recognises VCF or BCF in it.
StatusOr<HtsFilePtr> open_calls(const std::string& path, bool* binary) {
  errno = 0;
  HtsFilePtr file(hts_open(path.c_str(), "r"));
  if (!file) {
    const int err = errno != 0 ? errno : EIO;
    return errno_status(path + ": cannot open", err);
  }
  const htsFormat* format = hts_get_format(file.get());
  if (format->category != variant_data || (format->format != vcf && format->format != bcf)) {
    char* description = hts_format_description(format);
    std::string seen = description != nullptr ? description : "unknown";
    std::free(description);
    return invalid_argument(path + ": not a VCF or BCF file (htslib sees " + seen + ")");
  }
  // bgzip and BCF end with an empty BGZF block; without it the file was cut (htslib itself only
  // warns, and at a block or line boundary would read on as if the file were whole).
  if (format->compression == bgzf && bgzf_check_EOF(file->fp.bgzf) == 0) {
    return data_loss(path + ": the BGZF end-of-file marker is missing: the file is truncated");
  }
  *binary = format->format == bcf;
  return file;
}

// Reads the data records of an open file one by one, naming each by its place.
class RecordReader {
 public:
  RecordReader(htsFile* file, bcf_hdr_t* header, const std::string& path, bool binary)
      : file_(file), header_(header), path_(path), binary_(binary) {}

  // The next record into `record` and its place; false after the last one.
  StatusOr<bool> next(bcf1_t* record, int64_t* place) {
    std::string where;
    if (binary_) {
      const int ret = bcf_read(file_, header_, record);
      if (ret == -1) return false;
      ++count_;
      where = path_ + " record " + std::to_string(count_);
      if (ret < -1) {
        return data_loss(where + ": the file ends early or is corrupt (a truncated BCF file?)");
      }
      *place = count_;
    } else {
      // Lines are read here rather than by bcf_read so that a short line is refused: htslib
      // accepts a record that stops after any column.
      const int ret = hts_getline(file_, KS_SEP_LINE, &file_->line);
      if (ret == -1) return false;
      if (ret < -1) {
        return data_loss(path_ + " after line " + std::to_string(file_->lineno - 1) +
                         ": the file ends early or is corrupt (a truncated gzip or BGZF file?)");
      }
      *place = file_->lineno;
      where = path_ + " line " + std::to_string(file_->lineno);
      const std::string_view line(file_->line.s, file_->line.l);
      if (line.empty()) return bad_line(where + ": blank line");
      const size_t columns = static_cast<size_t>(std::count(line.begin(), line.end(), '\t')) + 1;
      if (columns < 8) {
        return bad_line(where + ": has " + std::to_string(columns) +
                        " columns; a VCF record has at least 8");
      }
      if (vcf_parse(&file_->line, header_, record) != 0) {
        return bad_line(where + ": malformed record");
      }
    }
    // An undeclared CHROM is fine (htslib declared it); any other flag is a broken record.
    if ((record->errcode & ~BCF_ERR_CTG_UNDEF) != 0) {
      char flags[16];
      std::snprintf(flags, sizeof flags, "0x%x", static_cast<unsigned>(record->errcode));
      return invalid_argument(where + ": malformed record (htslib error flags " + flags + ")");
    }
    if (bcf_unpack(record, BCF_UN_STR) != 0 || record->n_allele < 1) {
      return invalid_argument(where + ": malformed record (no REF allele)");
    }
    return true;
  }

 private:
  // A bad line of a gzip file may be the partial last line of a cut stream, which the next read
  // reports: say that rather than blame the line.
  Status bad_line(const std::string& message) {
    const int64_t line = file_->lineno;
    if (file_->format.compression != no_compression &&
        hts_getline(file_, KS_SEP_LINE, &file_->line) < -1) {
      return data_loss(path_ + " after line " + std::to_string(line - 1) +
                       ": the file ends early or is corrupt (a truncated gzip or BGZF file?)");
    }
    return invalid_argument(message);
  }

  htsFile* file_;
  bcf_hdr_t* header_;
  const std::string& path_;
  bool binary_;
  int64_t count_ = 0;
};

std::string chrom_of(const bcf_hdr_t* header, const bcf1_t* record) {
  const char* name = bcf_seqname(header, record);
  return name != nullptr ? name : "";
}

}  // namespace

std::string VcfCalls::where(const VcfRecord& record) const {
  return path + (binary ? " record " : " line ") + std::to_string(record.place);
}

StatusOr<VcfCalls> read_vcf(const std::string& path) {
  QuietHtslib quiet;
  VcfCalls calls;
  calls.path = path;
  RM_ASSIGN_OR_RETURN(HtsFilePtr file, open_calls(path, &calls.binary));
  calls.header.reset(bcf_hdr_read(file.get()), BcfHeaderDeleter());
  if (!calls.header) {
    return invalid_argument(path +
                            ": cannot read the VCF header (missing #CHROM line, malformed "
                            "meta line, or a truncated file)");
  }
  BcfRecordPtr record(bcf_init());
  if (!record) return internal_error("bcf_init failed");
  RecordReader reader(file.get(), calls.header.get(), path, calls.binary);
  for (;;) {
    int64_t place = 0;
    RM_ASSIGN_OR_RETURN(const bool more, reader.next(record.get(), &place));
    if (!more) break;
    VcfRecord out;
    out.place = place;
    out.chrom = chrom_of(calls.header.get(), record.get());
    out.pos = record->pos + 1;
    out.id = record->d.id != nullptr ? record->d.id : ".";
    out.ref = record->d.allele[0];
    for (int i = 1; i < record->n_allele; ++i) out.alts.emplace_back(record->d.allele[i]);
    calls.records.push_back(std::move(out));
  }
  return calls;
}

Status write_annotated_vcf(const VcfCalls& calls, const std::string& out_path,
                           std::span<const InfoField> fields,
                           std::span<const std::vector<double>> values, bool* indexed) {
  RM_CHECK(calls.header != nullptr)
      << "write_annotated_vcf: calls of " << calls.path << " have no header";
  RM_CHECK(values.size() == fields.size()) << values.size() << " value sets for " << fields.size();
  QuietHtslib quiet;
  *indexed = false;
  bcf_hdr_t* header = calls.header.get();
  std::vector<int> ids;
  for (const InfoField& field : fields) {
    std::string line = "##INFO=<ID=";
    line.append(field.key).append(",Number=A,Type=Float,Description=\"");
    line.append(field.description).append("\">");
    // An identical declaration already in the header (a re-annotated file) is kept as it is.
    if (bcf_hdr_append(header, line.c_str()) != 0 || bcf_hdr_sync(header) != 0) {
      return internal_error(out_path + ": cannot declare INFO/" + field.key);
    }
    const int id = bcf_hdr_id2int(header, BCF_DT_ID, field.key.c_str());
    if (id < 0 || !bcf_hdr_idinfo_exists(header, BCF_HL_INFO, id) ||
        bcf_hdr_id2type(header, BCF_HL_INFO, id) != BCF_HT_REAL ||
        bcf_hdr_id2length(header, BCF_HL_INFO, id) != BCF_VL_A) {
      return invalid_argument(calls.path + ": the header declares INFO/" + field.key +
                              " other than Number=A, Type=Float; it cannot be annotated");
    }
    ids.push_back(id);
  }

  bool binary = false;
  RM_ASSIGN_OR_RETURN(HtsFilePtr in, open_calls(calls.path, &binary));
  // The records are read with the header of the first read (which declares what htslib added
  // then); this read's own header is only skipped.
  std::unique_ptr<bcf_hdr_t, BcfHeaderDeleter> skipped(bcf_hdr_read(in.get()));
  if (!skipped) return invalid_argument(calls.path + ": cannot read the VCF header again");
  errno = 0;
  HtsFilePtr out(hts_open(out_path.c_str(), "wz"));
  if (!out) return errno_status(out_path + ": cannot create", errno != 0 ? errno : EIO);
  if (bcf_hdr_write(out.get(), header) != 0) {
    return errno_status(out_path + ": writing the header", errno != 0 ? errno : EIO);
  }

  BcfRecordPtr record(bcf_init());
  if (!record) return internal_error("bcf_init failed");
  RecordReader reader(in.get(), header, calls.path, binary);
  const std::string changed = calls.path + " changed while the job ran: ";
  size_t k = 0;
  size_t alt_at = 0;
  std::vector<float> row;
  for (;; ++k) {
    int64_t place = 0;
    RM_ASSIGN_OR_RETURN(const bool more, reader.next(record.get(), &place));
    if (!more) break;
    if (k >= calls.records.size()) return data_loss(changed + "it has more records now");
    const VcfRecord& expected = calls.records[k];
    if (chrom_of(header, record.get()) != expected.chrom || record->pos + 1 != expected.pos ||
        static_cast<size_t>(record->n_allele - 1) != expected.alts.size()) {
      return data_loss(changed + calls.where(expected) + " differs");
    }
    const size_t n = expected.alts.size();
    for (size_t f = 0; f < fields.size(); ++f) {
      RM_CHECK(alt_at + n <= values[f].size()) << "too few values for INFO/" << fields[f].key;
      row.assign(n, 0.0f);
      bool any = false;
      for (size_t i = 0; i < n; ++i) {
        const double v = values[f][alt_at + i];
        if (std::isnan(v)) {
          bcf_float_set_missing(row[i]);
        } else {
          row[i] = static_cast<float>(v);
          any = true;
        }
      }
      // All missing: no field (and none left from an earlier annotation).
      const int rc =
          any ? bcf_update_info_float(header, record.get(), fields[f].key.c_str(), row.data(),
                                      static_cast<int>(n))
              : bcf_update_info_float(header, record.get(), fields[f].key.c_str(), nullptr, 0);
      if (rc < 0) {
        return internal_error(out_path + ": cannot set INFO/" + fields[f].key + " of " +
                              calls.where(expected));
      }
    }
    alt_at += n;
    if (bcf_write(out.get(), header, record.get()) != 0) {
      return errno_status(out_path + ": writing " + calls.where(expected),
                          errno != 0 ? errno : EIO);
    }
  }
  if (k != calls.records.size()) return data_loss(changed + "it has fewer records now");
  if (hts_close(out.release()) != 0) {
    return errno_status(out_path + ": closing", errno != 0 ? errno : EIO);
  }
  // htslib refuses to index records that are not sorted by contig and position; the file is
  // still whole then, and in the input's order.
  const std::string index_path = out_path + ".csi";
  if (bcf_index_build3(out_path.c_str(), index_path.c_str(), 14, 1) == 0) {
    *indexed = true;
  } else {
    ::unlink(index_path.c_str());
  }
  return ok_status();
}

}  // namespace ringmaster::io
