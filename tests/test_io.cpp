// Data formats and the model file: IDX, NPY, CSV quirks, preprocessing, safetensors.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "config/registry.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "core/limits.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "model/safetensors.hpp"
#include "support/fixtures.hpp"
#include "train/experiment.hpp"

using namespace nnctl;

namespace {
std::string write_raw(const std::string& bytes, const std::string& suffix = "") { return test::temp_file(bytes, suffix); }
std::string gzip(const std::string& bytes) {
    std::string p = test::temp_file("", ".gz");
    gzFile g = gzopen(p.c_str(), "wb");
    gzwrite(g, bytes.data(), unsigned(bytes.size()));
    gzclose(g);
    std::ifstream in(p, std::ios::binary);
    std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::remove(p.c_str());
    return out;
}
std::string be32(uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
std::string idx_images(int n, int r, int c) {
    std::string s = std::string("\0\0\x08\x03", 4) + be32(uint32_t(n)) + be32(uint32_t(r)) + be32(uint32_t(c));
    for (int i = 0; i < n * r * c; ++i) s += char(i % 256);
    return s;
}
std::string idx_labels(const std::vector<int>& l) {
    std::string s = std::string("\0\0\x08\x01", 4) + be32(uint32_t(l.size()));
    for (int v : l) s += char(v);
    return s;
}
using test::error_of;
DataSourceConfig idx_src(const std::string& img, const std::string& lab) {
    DataSourceConfig s;
    s.format = "idx";
    s.images = img;
    s.labels = lab;
    s.where = "cfg";
    return s;
}
}  // namespace

TEST_CASE("idx: raw and gzip files load the same; labels become classes") {
    std::string img = idx_images(3, 2, 2), lab = idx_labels({0, 2, 1});
    auto a = load_source(idx_src(write_raw(img), write_raw(lab)), true);
    auto b = load_source(idx_src(write_raw(gzip(img), ".gz"), write_raw(gzip(lab), ".gz")), true);
    CHECK(a.x.rows() == 3);
    CHECK(a.x.cols() == 4);
    CHECK(a.x(1, 0) == 4.0f);
    CHECK(a.x == b.x);
    CHECK(a.labels == std::vector<int>{0, 2, 1});
    CHECK(a.num_classes == 3);
}

TEST_CASE("idx errors: truncated gzip, header-only gzip, wrong magic, count mismatch") {
    std::string img = idx_images(3, 2, 2), lab = idx_labels({0, 2, 1});
    std::string lab_path = write_raw(lab);
    std::string gz = gzip(img);
    std::string trunc = write_raw(gz.substr(0, gz.size() - 12), ".gz");
    CHECK(error_of([&] { load_source(idx_src(trunc, lab_path), true); }) == trunc + ": truncated gzip data");
    std::string header_only = write_raw(gzip(img.substr(0, 16)), ".gz");
    CHECK(error_of([&] { load_source(idx_src(header_only, lab_path), true); })
              .find(header_only + ": file ends early: the header promises 12 bytes of data, 0 are there") == 0);
    std::string bad_magic = write_raw("\x01\x02\x08\x03" + img.substr(4));
    CHECK(error_of([&] { load_source(idx_src(bad_magic, lab_path), true); })
              .find(bad_magic + ": not an IDX file (wrong magic number") == 0);
    std::string two_labels = write_raw(idx_labels({0, 1}));
    std::string img_path = write_raw(img);
    CHECK(error_of([&] { load_source(idx_src(img_path, two_labels), true); }) ==
          img_path + ": 3 images but " + two_labels + " has 2 labels");
    std::string empty = write_raw("");
    CHECK(error_of([&] { load_source(idx_src(empty, lab_path), true); }).find("file ends early while reading the IDX header") !=
          std::string::npos);
}

namespace {
std::string npy(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false) {
    std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': (" +
                    shape + "), }";
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::string s = "\x93NUMPY\x01";
    s += '\0';
    s += char(h.size() & 0xFF);
    s += char(h.size() >> 8);
    return s + h + data;
}
template <class T>
std::string raw(std::initializer_list<T> v) {
    std::string s;
    for (T x : v) s.append(reinterpret_cast<const char*>(&x), sizeof x);
    return s;
}
DataSourceConfig npy_src(const std::string& f, const std::string& t) {
    DataSourceConfig s;
    s.format = "npy";
    s.features_path = f;
    s.targets_path = t;
    s.where = "cfg";
    return s;
}
}  // namespace

TEST_CASE("npy: float32, float64, uint8 features; integer labels and float targets") {
    auto f32 = write_raw(npy("<f4", "2, 3", raw<float>({1, 2, 3, 4, 5, 6})));
    auto f64 = write_raw(npy("<f8", "2, 3", raw<double>({1, 2, 3, 4, 5, 6.5})));
    auto u8 = write_raw(npy("|u1", "2, 3", raw<uint8_t>({1, 2, 3, 4, 5, 255})));
    auto labels = write_raw(npy("<i8", "2,", raw<int64_t>({1, 0})));
    auto values = write_raw(npy("<f4", "2,", raw<float>({0.5f, -1.5f})));
    Dataset a = load_source(npy_src(f32, labels), true);
    CHECK(a.x(1, 2) == 6.0f);
    CHECK(a.labels == std::vector<int>{1, 0});
    CHECK(load_source(npy_src(f64, labels), true).x(1, 2) == 6.5f);
    CHECK(load_source(npy_src(u8, labels), true).x(1, 2) == 255.0f);
    Dataset r = load_source(npy_src(f32, values), false);
    CHECK(!r.is_classification());
    CHECK(r.y(1, 0) == -1.5f);
    auto fortran = write_raw(npy("<f4", "2, 3", raw<float>({1, 2, 3, 4, 5, 6}), true));
    CHECK(error_of([&] { load_source(npy_src(fortran, labels), true); }).find("Fortran-order") != std::string::npos);
    auto shortdata = write_raw(npy("<f4", "2, 3", raw<float>({1, 2, 3})));
    CHECK(error_of([&] { load_source(npy_src(shortdata, labels), true); }).find("file ends early") != std::string::npos);
    auto magic = write_raw("not numpy at all");
    CHECK(error_of([&] { load_source(npy_src(magic, labels), true); }) == magic + ": not a .npy file (wrong magic string)");
    auto big_endian = write_raw(npy(">f4", "2, 3", raw<float>({1, 2, 3, 4, 5, 6})));
    CHECK(error_of([&] { load_source(npy_src(big_endian, labels), true); }).find("not supported") != std::string::npos);
}

namespace {
DataSourceConfig csv_src(const std::string& path, const std::string& target) {
    return test::csv_source(path, target, "cfg");
}
}  // namespace

TEST_CASE("csv: no header with columns by index; gzip; embedded newlines") {
    auto p = write_raw("1,2,a\n3,4,b\n");
    auto s = csv_src(p, "2");
    s.header = false;
    Dataset d = load_source(s, true);
    CHECK(d.x.cols() == 2);
    CHECK(d.class_names == std::vector<std::string>{"a", "b"});
    auto g = write_raw(gzip("x,note,y\n1,\"two\nlines\",a\n2,\"say \"\"hi\"\"\",b\n"), ".csv.gz");
    auto gs = csv_src(g, "y");
    gs.feature_columns = {"x"};
    Dataset e = load_source(gs, true);
    CHECK(e.size() == 2);
    CHECK(e.x(1, 0) == 2.0f);
}

TEST_CASE("csv: text columns are one-hot with training categories; unknown ones are refused") {
    auto train = write_raw("color,size,y\nred,1,a\nblue,2,b\nred,3,a\n");
    DataSchema schema;
    Dataset d = load_source(csv_src(train, "y"), true, nullptr, &schema);
    REQUIRE(d.x.cols() == 3);  // color=blue, color=red, size
    CHECK(schema.feature_names == std::vector<std::string>{"color=blue", "color=red", "size"});
    CHECK(d.x.row(0) == (RowVector(3) << 0, 1, 1).finished());
    auto test = write_raw("color,size,y\ngreen,1,a\n");
    CHECK(error_of([&] { load_source(csv_src(test, "y"), true, &schema); }) ==
          test + ":2:1: column 'color': category 'green' was not in the training data");
    // Columns are found by name, so their order may differ from training.
    auto reordered = write_raw("y,size,color\nb,5,blue\n");
    Dataset r = load_source(csv_src(reordered, "y"), true, &schema);
    CHECK(r.x.row(0) == (RowVector(3) << 1, 0, 5).finished());
    CHECK(r.labels[0] == 1);
}

TEST_CASE("csv: missing values — error (default), drop, mean") {
    auto p = write_raw("a,b,y\n1,NA,x\n3,4,y\n5,,x\n7,8,NA\n");
    CHECK(error_of([&] { load_source(csv_src(p, "y"), true); }) == p + ":2:3: column 'b': missing value");
    auto drop = csv_src(p, "y");
    drop.missing = "drop";
    CHECK(load_source(drop, true).size() == 1);
    auto mean = csv_src(p, "y");
    mean.missing = "mean";
    CHECK(error_of([&] { load_source(mean, true); }).find(p + ":5:5: target 'y': missing value") == 0);
    auto q = write_raw("a,b,y\n1,NA,x\n3,4,y\n5,8,x\n");
    mean.path = q;
    Dataset m = load_source(mean, true);
    CHECK(m.x(0, 1) == 6.0f);  // mean of 4 and 8
}

TEST_CASE("max_samples keeps a prefix; take a seeded subset") {
    DataSourceConfig s;
    s.format = "synthetic";
    s.samples = 100;
    s.features = 2;
    s.classes = 2;
    Dataset full = load_source(s, true);
    s.max_samples = 10;
    Dataset head = load_source(s, true);
    CHECK(head.size() == 10);
    CHECK(head.x == full.x.topRows(10));
    s.max_samples = 0;
    s.take = 10;
    Dataset a = load_source(s, true, nullptr, nullptr, 7), b = load_source(s, true, nullptr, nullptr, 7),
            c = load_source(s, true, nullptr, nullptr, 8);
    CHECK(a.size() == 10);
    CHECK(a.x == b.x);
    CHECK(a.x != c.x);
}

TEST_CASE("preprocessing is fitted on the training rows only") {
    DataConfig c = test::synthetic_data(200, 3, 2);
    c.test_split = 0.25;
    c.preprocess = "standardize";
    DataSplits s = load_data(c, true, 3);
    Eigen::VectorXd mean = s.train.x.cast<double>().colwise().mean();
    CHECK(mean.cwiseAbs().maxCoeff() < 1e-5);
    Eigen::VectorXd sd = ((s.train.x.cast<double>().rowwise() - mean.transpose()).array().square().colwise().mean()).sqrt();
    CHECK((sd.array() - 1.0).abs().maxCoeff() < 1e-4);
    CHECK(s.test.x.cast<double>().colwise().mean().cwiseAbs().maxCoeff() > 1e-4);  // not refitted on the test rows
    c.preprocess = "minmax";
    DataSplits m = load_data(c, true, 3);
    CHECK(m.train.x.minCoeff() == doctest::Approx(0.0));
    CHECK(m.train.x.maxCoeff() == doctest::Approx(1.0));
    // The schema round-trips through JSON.
    JsonWriter j;
    m.schema.write_json(j);
    DataSchema back = DataSchema::from_json(parse_json(j.str()));
    CHECK(back.scaling.offset == m.schema.scaling.offset);
    CHECK(back.scaling.scale == m.schema.scaling.scale);
    CHECK(back.class_names == m.schema.class_names);
}

// ---------------------------------------------------------------- safetensors
namespace {
std::string le_f32(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return std::string{char(u), char(u >> 8), char(u >> 16), char(u >> 24)};
}
std::string le_u64(uint64_t v) {
    std::string s;
    for (int i = 0; i < 8; ++i) s += char(v >> (8 * i));
    return s;
}
/// A safetensors file built by hand from the format's definition (independent of the writer).
std::string handmade(const std::string& header_json, const std::string& data) {
    std::string h = header_json;
    while (h.size() % 8) h += ' ';
    return le_u64(h.size()) + h + data;
}
}  // namespace

TEST_CASE("safetensors bytes equal a reference built from the format's definition") {
    std::vector<float> k = {1.5f, -2.0f, 0.25f, 3.0f, 0.0f, -0.5f}, b = {0.125f, -1.0f};
    std::string got = safetensors_bytes({{"dense_1.kernel", {3, 2}, k.data()}, {"dense_1.bias", {2}, b.data()}},
                                        {{"format", "nnctl"}});
    std::string data;
    for (float v : b) data += le_f32(v);  // tensors in name order: bias before kernel
    for (float v : k) data += le_f32(v);
    std::string want = handmade(
        "{\"__metadata__\":{\"format\":\"nnctl\"},\"dense_1.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]},\"dense_1.kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[8,32]}}",
        data);
    CHECK(got == want);
    // And it reads back.
    std::map<std::string, std::string> meta;
    auto t = read_safetensors(got, "f", &meta);
    REQUIRE(t.size() == 2);
    CHECK(meta["format"] == "nnctl");
    CHECK(t[1].name == "dense_1.kernel");
    CHECK(t[1].shape == std::vector<int64_t>{3, 2});
    CHECK(t[1].data == k);
}

TEST_CASE("safetensors: F16, BF16 and F64 tensors convert to float") {
    std::string data = std::string("\x00\x3c", 2) + std::string("\x80\x3f", 2) + le_u64(0x4004000000000000ULL);
    auto t = read_safetensors(handmade("{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]},"
                                       "\"c\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[4,12]}}",
                                       data),
                              "f");
    CHECK(t[0].data[0] == 1.0f);
    CHECK(t[1].data[0] == 1.0f);
    CHECK(t[2].data[0] == 2.5f);
}

TEST_CASE("safetensors: every malformed file is a clear DataError, never a crash") {
    std::vector<float> k = {1, 2, 3, 4};
    std::string good = safetensors_bytes({{"w", {2, 2}, k.data()}});
    // Truncated at every offset.
    for (size_t n = 0; n < good.size(); ++n) {
        INFO("truncated to " << n << " bytes");
        CHECK_THROWS_AS(read_safetensors(good.substr(0, n), "f"), DataError);
    }
    auto err = [](const std::string& bytes) { return error_of([&] { read_safetensors(bytes, "m.st"); }); };
    CHECK(err(le_u64(1000) + "{}") == "m.st: header length 1000 runs past the end of the file (10 bytes): truncated or "
                                      "not a safetensors file");
    const std::string d16(16, '\0');
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       d16))
              .find("data overlaps") != std::string::npos);
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d16)) ==
          "m.st: bytes 8..16 belong to no tensor");
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", d16)) ==
          "m.st: tensor 'a': F32 × shape needs 12 bytes, data_offsets give 16");
    CHECK(err(handmade("{\"a\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,16]}}", d16)) ==
          "m.st: tensor 'a': unknown dtype 'Q7'");
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,32]}}", d16))
              .find("run past the end of the data") != std::string::npos);
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", d16)).find("bad header") !=
          std::string::npos);
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", d16.substr(0, 4)))
              .find("duplicate key") != std::string::npos);
    std::string nan = le_f32(1.0f) + le_f32(std::nanf(""));
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", nan)) ==
          "m.st: tensor 'a': non-finite value at element 1");
    CHECK(err(handmade("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", "")).find("whole numbers") !=
          std::string::npos);
}

TEST_CASE("weights trained elsewhere load by name; mismatches are listed") {
    LayerConfig l1;
    l1.type = "dense";
    l1.name = "hidden";
    l1.options = find_layer_schema("dense")->defaults();
    l1.options.get("units").number = 3;
    LayerConfig l2 = l1;
    l2.name = "out";
    l2.options.get("units").number = 2;
    Sequential m = build_model({l1, l2}, {4}, 1);
    std::vector<LoadedTensor> t = {{"hidden.kernel", {4, 3}, std::vector<float>(12, 0.5f)},
                                   {"hidden.bias", {3}, std::vector<float>(3, 0.1f)},
                                   {"out.kernel", {3, 2}, std::vector<float>(6, -1.0f)},
                                   {"out.bias", {2}, std::vector<float>(2, 0.0f)}};
    load_weights(m, t, "w.st");
    CHECK(m.params()[0].value->coeff(3, 2) == 0.5f);
    CHECK(m.params()[2].value->coeff(0, 0) == -1.0f);
    t[2].shape = {2, 3};
    t[3].name = "out.b";
    std::string e = error_of([&] { load_weights(m, t, "w.st"); });
    CHECK(e.find("w.st: the weights do not match the model (3 problems):") == 0);
    CHECK(e.find("tensor 'out.kernel' has shape [2, 3], the model needs [3, 2]") != std::string::npos);
    CHECK(e.find("missing tensor 'out.bias' [2]") != std::string::npos);
    CHECK(e.find("unexpected tensor 'out.b' [2]") != std::string::npos);
}

TEST_CASE("JSON through nlohmann-json keeps the reader's strictness and the writer's output") {
    auto err = [](const std::string& text) {
        try {
            parse_json(text);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(err("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}").find("duplicate key \"c\"") != std::string::npos);
    CHECK(err("{\"a\":1,\"b\":{\"a\":2}}") == "no error");  // the same key in another object is fine
    CHECK(err(std::string(70, '[') + std::string(70, ']')).find("nested too deeply") != std::string::npos);
    CHECK(err(std::string(60, '[') + std::string(60, ']')) == "no error");
    CHECK(err("{} x").find("invalid JSON at byte") != std::string::npos);  // trailing garbage
    CHECK(err("{\"a\":1,}") != "no error");
    CHECK(err("[\"\xff\"]") != "no error");  // not UTF-8
    CHECK(err("[NaN]") != "no error");
    uint64_t u = 0;
    JsonValue v = parse_json("[18446744073709551615, 9007199254740993, 18446744073709551616, -0, 1.0, -3, 2.5e3]");
    REQUIRE(v.items.size() == 7);
    CHECK((v.items[0].as_uint64(u) && u == UINT64_MAX));
    CHECK((v.items[1].as_uint64(u) && u == 9007199254740993ull));  // 2^53 + 1: a double would round it
    CHECK_FALSE(v.items[2].as_uint64(u));                          // overflows uint64
    CHECK_FALSE(v.items[3].as_uint64(u));                          // signed
    CHECK_FALSE(v.items[4].as_uint64(u));                          // a fraction
    CHECK(v.items[5].number == -3.0);
    CHECK(v.items[6].number == 2500.0);
    JsonValue o = parse_json("{\"z\":1,\"a\":{\"s\":\"\\u00e9\\ud83d\\ude00\"}}");
    CHECK(o.members[0].first == "z");  // document order
    CHECK(o.find("a")->find("s")->text == "\xc3\xa9\xf0\x9f\x98\x80");

    JsonWriter j;
    j.begin_object().key("z").value(0.8704936623573303).key("a").value(3.0).key("n").value(std::nan(""));
    j.key("s").value(std::string("bad \xff byte")).key("l").begin_array().value(1LL).value(true).null().end_array();
    j.key("r").raw("{\"x\":[1,2]}").end_object();
    CHECK(j.str() == "{\"z\":0.87049366,\"a\":3,\"n\":null,\"s\":\"bad \xef\xbf\xbd byte\",\"l\":[1,true,null],\"r\":{\"x\":[1,2]}}");
    CHECK(json_quote("a\"b\n") == "\"a\\\"b\\n\"");
}

TEST_CASE("SHA-256 through OpenSSL matches the FIPS 180-4 examples") {
    auto hex = [](const std::string& s) {
        Sha256 h;
        h.update(s.data(), s.size());
        return h.hex();
    };
    CHECK(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 million;
    const std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; ++i) million.update(chunk.data(), chunk.size());
    CHECK(million.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("quote_input: short values whole, long ones cut at 60 characters with their size") {
    CHECK(quote_input("abc") == "'abc'");
    CHECK(quote_input("") == "''");
    CHECK(quote_input(std::string(100, 'x')) == "'" + std::string(60, 'x') + "…' (100 bytes)");
    CHECK(quote_input(std::string(20'000'000, 'x')).size() < 90);
    CHECK(quote_input(std::string(20'000'000, 'x')).find("(20,000,000 bytes)") != std::string::npos);
    // never inside a UTF-8 character; control bytes shown as \xNN
    const std::string e = std::string(59, 'a') + "\xc3\xa9" + std::string(10, 'b');
    CHECK(quote_input(e) == "'" + std::string(59, 'a') + "…' (71 bytes)");
    CHECK(quote_input(std::string("a\0b\n", 4)) == "'a\\x00b\\x0A'");
}

TEST_CASE("csv limits bite while reading: fields, records, columns, NUL bytes") {
    const ReadLimits saved = read_limits();
    auto error_of = [](const std::string& bytes) {
        const std::string p = write_raw(bytes);
        try {
            load_source(csv_src(p, "y"), true);
        } catch (const DataError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    ReadLimits l;
    l.field_bytes = 10;
    set_read_limits(l);
    CHECK(error_of("x,y\n1,a\n12345678901,b\n").find(":3:1: a field longer than 10 bytes (data.limits.field_bytes") !=
          std::string::npos);
    CHECK(error_of("x,y\n\"1234\n5678901\",b\n").find(":2:1: a field longer than 10 bytes") != std::string::npos);
    l = ReadLimits{};
    l.line_bytes = 12;
    set_read_limits(l);
    CHECK(error_of("x,y\n1,a\n1,2,3,4,5,6,7,8,9\n").find(":3: a record longer than 12 bytes (data.limits.line_bytes") !=
          std::string::npos);
    l = ReadLimits{};
    l.columns = 2;
    set_read_limits(l);
    CHECK(error_of("x,y,z\n1,2,a\n").find(":1: more than 2 fields (data.limits.columns)") != std::string::npos);
    set_read_limits(saved);
    CHECK(error_of(std::string("x,y\n1,a\n2,\"b\0\",c\n", 17)).find(":3:5: a NUL byte") != std::string::npos);
    CHECK(error_of("x,y\n1,a\n2,b\n").empty());  // (the limits restored)
}

TEST_CASE("JSON strings are held to data.limits.field_bytes; a long duplicate key is quoted cut") {
    const ReadLimits saved = read_limits();
    ReadLimits l;
    l.field_bytes = 8;
    set_read_limits(l);
    auto err = [](const std::string& t) {
        try {
            parse_json(t);
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(err("{\"a\": \"12345678\"}").empty());
    CHECK(err("{\"a\": \"123456789\"}") == "invalid JSON: a string of 9 bytes, longer than data.limits.field_bytes");
    set_read_limits(saved);
    const std::string k(100000, 'k');
    const std::string m = err("{\"" + k + "\": 1, \"" + k + "\": 2}");
    CHECK(m.size() < 120);
    CHECK(m.find("duplicate key 'kkkk") != std::string::npos);
    CHECK(m.find("(100,000 bytes)") != std::string::npos);
}
