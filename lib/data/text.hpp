#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "data/schema.hpp"

namespace nnctl {

/// Offset of the first byte of `s` at or after `from` that is not valid UTF-8 (a stray
/// continuation byte, a truncated or overlong sequence, a surrogate, a code point past U+10FFFF)
/// or is a NUL byte; std::string::npos when there is none.
size_t utf8_problem(const std::string& s, size_t from = 0);
/// Throw a DataError when `s` is not clean UTF-8: "FILE:LINE:COL: invalid UTF-8 (byte 0xC3) ...",
/// the line and column counted from `line`/`col`, where `s` starts in the file.
void check_utf8(const std::string& s, const std::string& file, long long line, long long col = 1);

/// Keras TextVectorization's standardize step: lower (Unicode letters of the Latin, Greek and
/// Cyrillic blocks), strip_punctuation (the 32 ASCII punctuation characters are removed), both
/// (lower_and_strip_punctuation), or none.
std::string standardize_text(const std::string& s, const std::string& mode);
/// The split step: on runs of ASCII whitespace (no empty tokens), into UTF-8 characters, or none
/// (the whole text is one token).
std::vector<std::string> split_text(const std::string& s, const std::string& mode);
/// Standardize, split, then every n-gram of 1..t.ngrams tokens (all 1-grams first, then 2-grams, ...,
/// joined by a space), as TextVectorization does before the lookup.
std::vector<std::string> text_tokens(const std::string& s, const TextSchema& t);

/// Fit t.vocabulary (and t.idf for tf_idf) on `texts`, as Keras' adapt(): tokens by count, ties
/// broken by the token in reverse byte order, after the special tokens ("" and "[UNK]" in int
/// mode, "[UNK]" otherwise), capped at max_tokens entries in all. In int mode an unset
/// output_sequence_length becomes the longest text's token count.
void fit_vocabulary(TextSchema& t, const std::vector<std::string>& texts);

/// A fitted vocabulary's lookup: text → model input row.
class TextVectorizer {
public:
    explicit TextVectorizer(const TextSchema& t);
    /// Values per text: output_sequence_length (int) or the vocabulary size (max_tokens when padded).
    int64_t width() const { return width_; }
    /// Index of a token: its vocabulary position, or the OOV index (1 in int mode, else 0).
    int64_t lookup(const std::string& token) const;
    /// width() values: ids padded with 0 / truncated at the end (int), or per-index multi_hot
    /// flags, counts, or counts × idf.
    void encode(const std::string& text, float* out) const;

private:
    const TextSchema& t_;
    std::unordered_map<std::string, int64_t> index_;
    int64_t width_ = 0;
};

/// One text and its target as read from a source.
struct TextRow {
    std::string text, target;
    bool has_target = false;
    std::string where;  ///< "file:line" (or the .txt file) for messages
};

/// The rows of a text source: a CSV/TSV (by header name, or 0-based index with header: false), JSON
/// lines or a JSON array of objects (by key), or a folder of class sub-folders of .txt files (each
/// file one text, its class the folder's name; classes sorted). Invalid UTF-8 or a NUL byte is a
/// DataError naming file:line:col. A missing text or target (null, empty, absent key) is an error
/// naming the row, or its row is dropped under missing: drop; with `deduplicate` a text seen before
/// is dropped. `need_target`: false for prediction input. `classes`: the folder's class names.
/// `kind`: csv or json to read src.path (standard input too: "-") as that; empty: by its name.
std::vector<TextRow> read_text_rows(const DataSourceConfig& src, bool need_target,
                                    std::vector<std::string>* classes = nullptr, const std::string& kind = "");

/// Load a text training source (and its validation / test sources or splits, carved as for every
/// other format), fit the vectorizer on the training rows only, and vectorize all three.
DataSplits load_text_data(const DataConfig& cfg, bool want_classes, uint64_t seed);

/// A text source read and vectorized with a trained model's schema (evaluate --data, validation
/// and test sources); classes must be the model's.
Dataset load_text_with_schema(const DataSourceConfig& src, const DataSchema& schema);

}  // namespace nnctl
