// Text sources: Keras TextVectorization's steps (standardize, split, n-grams, vocabulary order,
// max_tokens, OOV, padding and truncation, multi_hot / count / tf_idf values worked out by hand),
// the vocabulary fitted on the training rows only, the readers (CSV, TSV, JSON lines, a JSON array,
// a folder per class), missing values, duplicates, UTF-8 checks and the saved schema.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "data/text.hpp"
#include "support/fixtures.hpp"

using namespace nnctl;
using Strings = std::vector<std::string>;

namespace {

TextSchema vectorizer(const std::string& mode, int ngrams = 1, int64_t max_tokens = 0) {
    TextSchema t;
    t.output_mode = mode;
    t.ngrams = ngrams;
    t.max_tokens = max_tokens;
    return t;
}

std::vector<float> encode(const TextSchema& t, const std::string& text) {
    TextVectorizer v(t);
    std::vector<float> out(size_t(v.width()), -7.0f);
    v.encode(text, out.data());
    return out;
}

DataSourceConfig text_source(const std::string& path, const std::string& text = "text", const std::string& target = "label") {
    DataSourceConfig s;
    s.format = "text";
    s.path = path;
    s.text_column = text;
    s.target = target;
    s.where = "cfg.yaml:3:5";
    return s;
}

DataConfig data_of(const DataSourceConfig& src) {
    DataConfig c;
    c.train = src;
    return c;
}

}  // namespace

TEST_CASE("standardize: lower case (beyond ASCII), punctuation stripped, or left alone") {
    const std::string s = "Hello, World! Don't STOP... (ÉCOLE Ünï ΑΒΓ Привет Ł)";
    CHECK(standardize_text(s, "lower_and_strip_punctuation") == "hello world dont stop école ünï αβγ привет ł");
    CHECK(standardize_text(s, "lower") == "hello, world! don't stop... (école ünï αβγ привет ł)");
    CHECK(standardize_text(s, "strip_punctuation") == "Hello World Dont STOP ÉCOLE Ünï ΑΒΓ Привет Ł");
    CHECK(standardize_text(s, "none") == s);
    // All 32 ASCII punctuation characters go, nothing else does (as Keras' DEFAULT_STRIP_REGEX).
    CHECK(standardize_text("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~a1 é€", "strip_punctuation") == "a1 é€");
}

TEST_CASE("split on whitespace runs, into characters, or not at all") {
    CHECK(split_text("  a\tb\n\n c  ", "whitespace") == Strings{"a", "b", "c"});
    CHECK(split_text("", "whitespace").empty());
    CHECK(split_text("añ€😀 ", "character") == Strings{"a", "ñ", "€", "😀", " "});
    CHECK(split_text("a b", "none") == Strings{"a b"});
}

TEST_CASE("n-grams: every 1-gram, then every 2-gram, ... joined by a space") {
    TextSchema t = vectorizer("int", 2);
    CHECK(text_tokens("A b, c", t) == Strings{"a", "b", "c", "a b", "b c"});
    t.ngrams = 3;
    CHECK(text_tokens("a b c", t) == Strings{"a", "b", "c", "a b", "b c", "a b c"});
    CHECK(text_tokens("a", t) == Strings{"a"});
}

TEST_CASE("vocabulary: by count, ties in reverse byte order, special tokens first, capped by max_tokens") {
    const Strings texts = {"b a a", "c b", "d [UNK]"};
    TextSchema t = vectorizer("int");
    t.standardize = "none";
    fit_vocabulary(t, texts);
    // a, b: 2 each (b before a, as Keras' lexsort reversed); c, d: 1 each (d before c); "[UNK]" is never learned.
    CHECK(t.vocabulary == Strings{"", "[UNK]", "b", "a", "d", "c"});
    CHECK(t.output_sequence_length == 3);  // the longest training text
    TextSchema capped = vectorizer("int", 1, 4);
    fit_vocabulary(capped, texts);
    CHECK(capped.vocabulary == Strings{"", "[UNK]", "b", "a"});
    TextSchema hot = vectorizer("multi_hot", 1, 3);
    fit_vocabulary(hot, texts);
    CHECK(hot.vocabulary == Strings{"[UNK]", "b", "a"});  // no padding token outside int mode
}

TEST_CASE("int mode: ids, OOV is 1, padded with 0 and truncated at the end") {
    TextSchema t = vectorizer("int");
    fit_vocabulary(t, {"the cat sat", "the dog"});
    REQUIRE(t.vocabulary == Strings{"", "[UNK]", "the", "sat", "dog", "cat"});
    t.output_sequence_length = 4;
    CHECK(encode(t, "The bird sat!") == std::vector<float>{2, 1, 3, 0});
    CHECK(encode(t, "dog cat the sat the") == std::vector<float>{4, 5, 2, 3});
    CHECK(encode(t, "") == std::vector<float>{0, 0, 0, 0});
    CHECK(TextVectorizer(t).lookup("unseen") == 1);
}

TEST_CASE("multi_hot, count and tf_idf against values worked out by hand") {
    const Strings texts = {"x y y", "y z"};
    // counts: y 3, x 1, z 1 → [UNK], y, z, x.  Documents: y in 2, z in 1, x in 1 (of 2).
    TextSchema count = vectorizer("count");
    fit_vocabulary(count, texts);
    REQUIRE(count.vocabulary == Strings{"[UNK]", "y", "z", "x"});
    CHECK(encode(count, "y y w x") == std::vector<float>{1, 2, 0, 1});
    TextSchema hot = vectorizer("multi_hot");
    fit_vocabulary(hot, texts);
    CHECK(encode(hot, "y y w x") == std::vector<float>{1, 1, 0, 1});
    TextSchema tfidf = vectorizer("tf_idf");
    fit_vocabulary(tfidf, texts);
    const double iy = std::log(1.0 + 2.0 / 3.0), iz = std::log(2.0), ix = std::log(2.0);
    const double oov = (iy + iz + ix) / 3.0;  // Keras: the mean of the learned tokens' weights
    REQUIRE(tfidf.idf.size() == 4);
    CHECK(tfidf.idf[0] == doctest::Approx(oov));
    CHECK(tfidf.idf[1] == doctest::Approx(iy));
    const std::vector<float> v = encode(tfidf, "y y w x");
    CHECK(v[0] == doctest::Approx(oov));
    CHECK(v[1] == doctest::Approx(2 * iy));
    CHECK(v[2] == 0.0f);
    CHECK(v[3] == doctest::Approx(ix));
    // pad_to_max_tokens: the width is max_tokens, the extra indices stay zero.
    TextSchema padded = vectorizer("count", 1, 8);
    padded.pad_to_max_tokens = true;
    fit_vocabulary(padded, texts);
    CHECK(encode(padded, "y") == std::vector<float>{0, 1, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("UTF-8: overlong forms, surrogates, stray and truncated bytes and NUL are found") {
    CHECK(utf8_problem("plain ascii, é, €, 😀") == std::string::npos);
    CHECK(utf8_problem("ab\xC0\x80") == 2);          // overlong NUL
    CHECK(utf8_problem("\xED\xA0\x80") == 0);        // a UTF-16 surrogate
    CHECK(utf8_problem("x\xF5\x80\x80\x80") == 1);   // past U+10FFFF
    CHECK(utf8_problem("abc\xE2\x82") == 3);         // truncated
    CHECK(utf8_problem("\x80") == 0);                // a continuation byte alone
    CHECK(utf8_problem(std::string("a\0b", 3)) == 1);
    const std::string msg = test::error_of([] { check_utf8("ok\nfine\nbad \xFF here", "f.txt", 10, 1); });
    CHECK(msg.find("f.txt:12:5: invalid UTF-8 (byte 0xFF)") == 0);
    CHECK(test::error_of([] { check_utf8(std::string("a\0", 2), "f.txt", 1); }).find("f.txt:1:2: NUL byte") == 0);
}

TEST_CASE("the vocabulary is fitted on the training rows only") {
    // Row i says "wI": a word of its own. A held-out row's word must be out of vocabulary.
    std::string csv = "text,label\n";
    for (int i = 0; i < 20; ++i) csv += "w" + std::to_string(i) + " common," + std::to_string(i % 2) + "\n";
    DataConfig c = data_of(text_source(test::temp_file(csv, ".csv")));
    c.test_split = 0.25;
    c.validation_split = 0.2;
    c.train.output_sequence_length = 2;
    DataSplits d = load_data(c, true, 3);
    REQUIRE(d.train.size() == 12);
    REQUIRE(d.validation.size() == 3);
    REQUIRE(d.test.size() == 5);
    CHECK(d.schema.text.vocabulary.size() == 2 + 12 + 1);  // "", [UNK], the 12 training words, "common"
    for (Eigen::Index i = 0; i < d.train.size(); ++i) CHECK(d.train.x(i, 0) > 1.0f);
    for (const Dataset* h : {&d.validation, &d.test})
        for (Eigen::Index i = 0; i < h->size(); ++i) {
            CHECK(h->x(i, 0) == 1.0f);  // [UNK]
            CHECK(h->x(i, 1) == 2.0f);  // "common", the most frequent word
        }
    CHECK(d.train.class_names == Strings{"0", "1"});
}

TEST_CASE("readers: quoted CSV, headerless TSV by index, JSON lines, a JSON array, a folder per class") {
    auto csv = test::temp_file("id,text,label\n1,\"Good, really good\",pos\n2,\"bad\nworse\",neg\n", ".csv");
    std::vector<TextRow> r = read_text_rows(text_source(csv), true);
    REQUIRE(r.size() == 2);
    CHECK(r[0].text == "Good, really good");
    CHECK(r[1].text == "bad\nworse");
    CHECK(r[1].target == "neg");
    CHECK(r[1].where.find(":3") != std::string::npos);

    auto tsv = test::temp_file("fine\t1\nnot fine\t0\n", ".tsv");
    DataSourceConfig t = text_source(tsv, "0", "1");
    t.delimiter = '\t';
    t.header = false;
    r = read_text_rows(t, true);
    REQUIRE(r.size() == 2);
    CHECK(r[1].text == "not fine");
    CHECK(r[1].target == "0");

    auto jsonl = test::temp_file("{\"review\": \"nice\", \"stars\": 5}\n\n{\"review\": \"meh\", \"stars\": 2}\n", ".jsonl");
    r = read_text_rows(text_source(jsonl, "review", "stars"), true);
    REQUIRE(r.size() == 2);
    CHECK(r[1].text == "meh");
    CHECK(r[1].target == "2");
    CHECK(r[1].where.find(":3") != std::string::npos);

    // The sentiment files' layout: one array, a trailing record without text or class.
    auto arr = test::temp_file("[{\"text\":\"A\",\"class\":1},\n{\"text\":\"B\",\"class\":0},\n{\"text\":\"\",\"class\":null}]", ".json");
    DataSourceConfig a = text_source(arr, "text", "class");
    CHECK(test::error_of([&] { read_text_rows(a, true); }).find(":3 (record 3): missing target") != std::string::npos);
    a.missing = "drop";
    r = read_text_rows(a, true);
    REQUIRE(r.size() == 2);
    CHECK(r[0].target == "1");
    CHECK(test::error_of([&] { read_text_rows(text_source(arr, "review", "class"), true); })
              .find("no key \"review\" (its keys: text, class)") != std::string::npos);

    const std::string dir = test::temp_file("", "_dir");
    std::remove(dir.c_str());
    for (const char* d : {"", "/pos", "/neg"}) ::mkdir((dir + d).c_str(), 0755);
    {
        std::ofstream(dir + "/pos/1.txt") << "lovely";
        std::ofstream(dir + "/pos/2.txt") << "great";
        std::ofstream(dir + "/neg/1.txt") << "awful";
        std::ofstream(dir + "/neg/notes.md") << "not a sample";
    }
    DataSourceConfig f = text_source(dir, "text", "");
    f.output_mode = "count";
    DataSplits d = load_data(data_of(f), true, 0);
    CHECK(d.train.class_names == Strings{"neg", "pos"});
    REQUIRE(d.train.size() == 3);
    CHECK(d.train.labels == std::vector<int>{0, 1, 1});
}

TEST_CASE("missing values, duplicates, labels and class names") {
    auto p = test::temp_file("text,label\nsame,1\nother,0\nsame,0\n,1\nlast,NA\n", ".csv");
    DataSourceConfig s = text_source(p);
    CHECK(test::error_of([&] { read_text_rows(s, true); }).find(":6: missing target") != std::string::npos);
    s.missing = "drop";
    CHECK(read_text_rows(s, true).size() == 4);  // an empty text is a text
    s.deduplicate = true;
    std::vector<TextRow> r = read_text_rows(s, true);
    REQUIRE(r.size() == 3);
    CHECK(r[0].target == "1");  // the first "same" is kept

    // Integer labels named by class_names; a label past them is an error naming its line.
    s.class_names = {"negative", "positive"};
    DataSplits d = load_data(data_of(s), true, 0);
    CHECK(d.train.class_names == Strings{"negative", "positive"});
    CHECK(d.train.labels == std::vector<int>{1, 0, 1});
    auto q = test::temp_file("text,label\na,1\nb,2\n", ".csv");
    DataSourceConfig bad = text_source(q);
    bad.class_names = {"negative", "positive"};
    CHECK(test::error_of([&] { load_data(data_of(bad), true, 0); }).find(":3: label '2' is not a class index") !=
          std::string::npos);
    // Numeric targets and a regression loss: values.
    d = load_data(data_of(text_source(q)), false, 0);
    CHECK(!d.train.is_classification());
    CHECK(d.train.y(1, 0) == 2.0f);
}

TEST_CASE("invalid UTF-8 and NUL in a text source name the file, line and column") {
    auto p = test::temp_file("text,label\nfine,1\ncaf\xE9,0\n", ".csv");
    CHECK(test::error_of([&] { read_text_rows(text_source(p), true); }).find(p + ":3:4: invalid UTF-8 (byte 0xE9)") == 0);
    auto j = test::temp_file("{\"text\": \"ok\", \"label\": 1}\n{\"text\": \"x\xFF\", \"label\": 0}\n", ".jsonl");
    CHECK(test::error_of([&] { read_text_rows(text_source(j), true); }).find(j + ":2:") == 0);
    auto n = test::temp_file(std::string("text,label\nab\0c,1\n", 18), ".csv");
    CHECK(test::error_of([&] { read_text_rows(text_source(n), true); }).find("NUL byte") != std::string::npos);
}

TEST_CASE("the text schema survives model.json") {
    DataSchema s;
    s.format = "text";
    s.delimiter = '\t';
    s.class_names = {"neg", "pos"};
    s.text = vectorizer("tf_idf", 2, 50);
    s.text.column = "review";
    s.text.target = "stars";
    s.text.standardize = "lower";
    fit_vocabulary(s.text, {"a b", "b c d", "line\nbreak \"quoted\""});
    s.width = TextVectorizer(s.text).width();
    JsonWriter j;
    s.write_json(j);
    DataSchema r = DataSchema::from_json(parse_json(j.str()));
    CHECK(r.text.vocabulary == s.text.vocabulary);
    REQUIRE(r.text.idf.size() == s.text.idf.size());
    for (size_t i = 0; i < r.text.idf.size(); ++i) CHECK(r.text.idf[i] == doctest::Approx(s.text.idf[i]).epsilon(1e-6));
    CHECK(r.text.column == "review");
    CHECK(r.text.standardize == "lower");
    CHECK(r.text.ngrams == 2);
    CHECK(r.delimiter == '\t');
    CHECK(encode(r.text, "b c q") == encode(s.text, "b c q"));
}

TEST_CASE("text sources in the config: keys, defaults and errors at their place") {
    auto data = test::temp_file("text,label\na,1\n", ".csv");
    auto cfg = [&](const std::string& train_extra, const std::string& more = "") {
        return "data:\n  train: {format: text, path: " + data + train_extra + "}\n" + more +
               "model:\n  layers:\n    - {type: dense, units: 2}\nloss: sparse_categorical_crossentropy\n";
    };
    ExperimentConfig c = parse_config(cfg(", target: label, output_mode: count, ngrams: 2"), "t.yaml");
    CHECK(c.data.train.output_mode == "count");
    CHECK(c.data.train.ngrams == 2);
    CHECK(c.data.train.text_column == "text");
    auto err = [&](const std::string& text) {
        try {
            parse_config(text, "t.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    CHECK(err(cfg("")).find("missing key 'target'") != std::string::npos);
    CHECK(err(cfg(", target: label, output_mode: multi_hot, output_sequence_length: 10"))
              .find("only output_mode: int gives sequences") != std::string::npos);
    CHECK(err(cfg(", target: label, max_tokens: 2")).find("max_tokens") != std::string::npos);
    CHECK(err(cfg(", target: label", "  validation: {format: text, path: " + data + ", max_tokens: 10}\n"))
              .find("'max_tokens' belongs to data.train") != std::string::npos);
    CHECK(err(cfg(", target: label", "  preprocess: standardize\n")).find("preprocess does not apply") != std::string::npos);
    CHECK(err(cfg(", target: label", "  test: {format: csv, path: " + data + ", target: label}\n"))
              .find("the test source must be one too") != std::string::npos);
    CHECK(err(cfg(", target: label, standardize: upper")).find("t.yaml:2:") != std::string::npos);
}
