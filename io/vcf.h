// io/vcf.h: variant calls in VCF or BCF, read and written through htslib (never a parser of
// ours): read_vcf keeps what the variants task needs of every data record, and
// write_annotated_vcf writes the same records back with Number=A float INFO fields added.
//
// Formats: plain VCF, gzip or bgzip VCF, and BCF, recognised by their bytes (hts_open), not by
// the name. Headers with contigs, samples and any other meta lines are kept as they are; a CHROM
// or INFO/FORMAT tag the header does not declare is accepted (htslib adds a declaration for it
// to the header it keeps, which the written file then carries).
//
// Places: a record is named "FILE line N" for VCF text (N counts every line of the file, header
// and blank lines included, from 1) and "FILE record N" for BCF (the N-th data record, from 1).
// Errors, each a Status naming the file and, where there is one, the place (never an abort, and
// htslib's own messages are silenced while these functions run, so only ours are printed):
//   "FILE: cannot open: ..."                              (kNotFound / errno)
//   "FILE: not a VCF or BCF file (...)"                   (kInvalidArgument)
//   "FILE: cannot read the VCF header ..."                (kInvalidArgument)
//   "FILE line N: blank line" / "... has K columns; a VCF record has at least 8" / "...
//    malformed record (htslib error flags 0x..)"          (kInvalidArgument)
//   "FILE after line N: the file ends early or is corrupt (truncated gzip/BGZF?)"  (kDataLoss)
//
// Memory: read_vcf keeps CHROM, POS, ID, REF and ALTs of every record (a few dozen bytes each),
// never the INFO or sample columns; write_annotated_vcf reads the file again, record by record.
// Thread-compatible: htslib's log level is process-wide, so no two of these calls may overlap.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

// htslib's header type, opaque here so that only io/vcf.cc includes htslib.
struct bcf_hdr_t;

namespace ringmaster::io {

// One data record of the file: the columns the variants task reads.
struct VcfRecord {
  int64_t place = 0;  // VCF text: line number in the file; BCF: record number (both from 1)
  std::string chrom;
  int64_t pos = 0;                // POS as written (1-based)
  std::string id;                 // "." when missing
  std::string ref;                // as written (case kept)
  std::vector<std::string> alts;  // as written; empty when ALT is "."
};

struct VcfCalls {
  std::string path;     // as the caller spelled it, for messages
  bool binary = false;  // BCF: places are record numbers
  std::vector<VcfRecord> records;
  // The header as read, with htslib's declarations of undeclared contigs and tags added; the
  // writer reads the records again with it and adds its own INFO declarations to it.
  std::shared_ptr<bcf_hdr_t> header;

  // "calls.vcf line 12" or "calls.bcf record 3".
  std::string where(const VcfRecord& record) const;
};

// Reads every data record of `path` (VCF, VCF.gz or BCF). Errors: as listed above.
StatusOr<VcfCalls> read_vcf(const std::string& path);

// A Number=A, Type=Float INFO field to add.
struct InfoField {
  std::string key;          // "RM_DLL"
  std::string description;  // no double quotes
};

// Writes `out_path` as bgzip-compressed VCF: the records of `calls` (read again from
// calls.path, which must be unchanged: each record's CHROM, POS and allele count are checked
// against `calls`) with the `fields` declared in the header and set on every record that has
// ALTs. values[f] holds field f for every ALT of the file, records in order and each record's
// ALTs in order (NaN: missing, written '.'); a record whose ALTs are all missing gets no field.
// Then indexes it as `out_path`.csi (CSI, min_shift 14: contigs longer than tabix's 2^29
// limit are fine) when the records are sorted; for an unsorted input (htslib refuses to index
// it) the index is left out and `*indexed` says so.
// REQUIRES: values[f].size() == the number of ALTs in calls. Errors: I/O naming the path, a
// record that changed, a field the input header declares differently.
Status write_annotated_vcf(const VcfCalls& calls, const std::string& out_path,
                           std::span<const InfoField> fields,
                           std::span<const std::vector<double>> values, bool* indexed);

}  // namespace ringmaster::io
