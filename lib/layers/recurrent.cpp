#include "layers/recurrent.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "layers/registry.hpp"

namespace nnctl {

namespace {
/// A (rows × cols) block of a row-major buffer whose rows are `ld` apart (e.g. one gate's columns).
using Block = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
using CBlock = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
Block blk(float* p, int64_t rows, int64_t cols, int64_t ld) { return Block(p, rows, cols, Eigen::OuterStride<>(ld)); }
CBlock cblk(const float* p, int64_t rows, int64_t cols, int64_t ld) {
    return CBlock(p, rows, cols, Eigen::OuterStride<>(ld));
}

/// The activations a recurrent layer takes: those whose derivative follows from their output.
enum class Act { Linear, Relu, Sigmoid, Tanh };
Act act_kind(const ActivationFn& a) {
    if (is(a.name, "tanh")) return Act::Tanh;
    if (is(a.name, "sigmoid")) return Act::Sigmoid;
    if (is(a.name, "relu")) return Act::Relu;
    if (is(a.name, "linear")) return Act::Linear;
    throw ConfigError("recurrent layers take the activations tanh, sigmoid, relu and linear, not '" + a.name + "'");
}

void act_apply(Act k, Block m) {
    switch (k) {
        case Act::Tanh: m = m.array().tanh().matrix(); break;
        case Act::Sigmoid: m = ((m.array() * 0.5f).tanh() * 0.5f + 0.5f).matrix(); break;  // σ(x) = (1 + tanh(x/2))/2
        case Act::Relu: m = m.cwiseMax(0.0f); break;
        case Act::Linear: break;
    }
}

/// dst = g ⊙ act'(·), the derivative read off the activation's output y (no temporaries).
template <typename D, typename G, typename Y>
void act_grad(Act k, D&& dst, const G& g, const Y& y) {
    switch (k) {
        case Act::Tanh: dst = (g.array() * (1.0f - y.array().square())).matrix(); break;
        case Act::Sigmoid: dst = (g.array() * y.array() * (1.0f - y.array())).matrix(); break;
        case Act::Relu: dst = (y.array() > 0.0f).select(g.array(), 0.0f).matrix(); break;
        case Act::Linear: dst = g; break;
    }
}

/// One mask row per sample, each from the sample's own stream (SampleStreams).
void fill_dropout(Matrix& m, int64_t rows, int64_t cols, double rate, const ForwardContext& ctx) {
    m.resize(rows, cols);
    const float keep = float(1.0 / (1.0 - rate)), r = float(rate);
    const SampleStreams streams(ctx);
    for (int64_t s = 0; s < rows; ++s) {
        Rng rng = streams(s);
        float* d = m.data() + s * cols;
        for (int64_t j = 0; j < cols; ++j) d[j] = rng.uniform24() >= r ? keep : 0.0f;
    }
}

/// The batch splits into this many row chunks across threads at each step (1: no split).
int64_t row_chunks(int64_t batch) { return num_threads() > 1 && batch >= 16 ? std::min<int64_t>(num_threads(), batch / 8) : 1; }
int64_t chunk_start(int64_t batch, int64_t chunks, int64_t c) { return batch * c / chunks; }
int64_t chunk_rows(int64_t batch, int64_t chunks, int64_t c) {
    return chunk_start(batch, chunks, c + 1) - chunk_start(batch, chunks, c);
}

/// out(:, j0 .. j0 + w) = Σ over blocks of `rows` rows: a_blockᵀ · b_block(:, j0 .. j0 + w); columns split
/// across threads, blocks summed in order (the same bits for any thread count).
void sum_tn_blocks(const ConstView& a, const ConstView& b, int64_t j0, int64_t w, int64_t rows, Matrix& out) {
    const int64_t k = a.cols(), blocks = a.rows() / rows;
    const int64_t parts = num_threads() > 1 && w >= 64 ? 2 : 1;
    parallel_for(parts, [&](int64_t part) {
        const int64_t c0 = w * part / parts, cw = w * (part + 1) / parts - c0;
        thread_local Matrix tmp;
        tmp.resize(k, cw);
        auto dst = blk(out.data() + j0 + c0, k, cw, out.cols());
        dst.setZero();
        for (int64_t t = 0; t < blocks; ++t) {
            gemm(k, rows, cw, a.data() + t * rows * a.outerStride(), 1, a.outerStride(),
                 b.data() + t * rows * b.outerStride() + j0 + c0, b.outerStride(), tmp.data(), cw);
            dst += tmp;
        }
    });
}

std::vector<OptionProblem> check_activations(const LayerOptions& o, bool gates) {
    std::vector<OptionProblem> p;
    for (const char* key : {"activation", "recurrent_activation"}) {
        if (!gates && std::string(key) == "recurrent_activation") continue;
        try {
            act_kind(o.activation(key));
        } catch (const ConfigError& e) {
            p.push_back({key, e.what()});
        }
    }
    return p;
}
}  // namespace

const char* Recurrent::type_name(Cell c) {
    return c == Cell::Lstm ? "lstm" : c == Cell::Gru ? "gru" : "simple_rnn";
}

Recurrent::Recurrent(Options o) : opt_(std::move(o)) {}

Shape Recurrent::build(const Shape& input, Rng& rng) {
    if (input.size() != 2)
        throw ConfigError(type() + " expects a sequence (timesteps, features), got " + shape_str(input) +
                          " (an embedding, a conv1d or a reshape to (steps, features) gives one)");
    act_kind(opt_.activation);
    act_kind(opt_.recurrent_activation);
    T_ = input[0], F_ = input[1], n_ = opt_.units;
    const int64_t G = gates() * n_;
    w_.resize(F_, G);
    initialize(w_, opt_.kernel_initializer, F_, G, rng);
    u_.resize(n_, G);
    initialize(u_, opt_.recurrent_initializer, n_, G, rng);
    gw_.setZero(F_, G);
    gu_.setZero(n_, G);
    if (opt_.use_bias) {
        b_.resize(opt_.cell == Cell::Gru && opt_.reset_after ? 2 : 1, G);
        initialize(b_, opt_.bias_initializer, F_, G, rng);
        if (opt_.cell == Cell::Lstm && opt_.unit_forget_bias) b_.block(0, n_, 1, n_).setOnes();
        gb_.setZero(b_.rows(), G);
    }
    return output_shape();
}

Shape Recurrent::output_shape() const { return opt_.return_sequences ? Shape{T_, n_} : Shape{n_}; }

bool Recurrent::masked(int64_t b, int64_t t) const {
    return mask_ && (*mask_)(b, opt_.go_backwards ? T_ - 1 - t : t) == 0.0f;
}

void Recurrent::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    const int64_t B = x.rows(), T = T_, F = F_, n = n_, G = gates() * n_;
    mask_ = ctx.mask;
    if (mask_ && (mask_->rows() != B || mask_->cols() != T))
        throw Error(name() + ": the sequence mask has shape (" + std::to_string(mask_->rows()) + ", " +
                    std::to_string(mask_->cols()) + "), the input (" + std::to_string(B) + ", " + std::to_string(T) + ")");
    in_drop_ = ctx.training && opt_.dropout > 0.0;
    rec_drop_ = ctx.training && opt_.recurrent_dropout > 0.0;
    if ((in_drop_ || rec_drop_) && !ctx.rng) throw Error(name() + ": training forward pass without a random generator");
    if (in_drop_) fill_dropout(in_mask_, B, F, opt_.dropout, ctx);
    if (rec_drop_) fill_dropout(rec_mask_, B, n, opt_.recurrent_dropout, ctx);

    // Time-major inputs in processing order, so that each step is one contiguous block of B rows.
    xt_.resize(T * B, F);
    for (int64_t t = 0; t < T; ++t) {
        const int64_t src = opt_.go_backwards ? T - 1 - t : t;
        for (int64_t b = 0; b < B; ++b) {
            float* d = xt_.data() + (t * B + b) * F;
            const float* s = x.data() + b * x.outerStride() + src * F;
            if (in_drop_) {
                const float* m = in_mask_.data() + b * F;
                for (int64_t f = 0; f < F; ++f) d[f] = s[f] * m[f];
            } else {
                std::memcpy(d, s, size_t(F) * sizeof(float));
            }
        }
    }
    matmul(xt_, w_, z_, opt_.use_bias ? b_.data() : nullptr);  // every step's input projection at once

    h_.resize((T + 1) * B, n);
    h_.topRows(B).setZero();
    if (opt_.cell == Cell::Lstm) {
        c_.resize((T + 1) * B, n);
        c_.topRows(B).setZero();
        tc_.resize(T * B, n);
    }
    if (opt_.cell == Cell::Gru) rh_.resize(T * B, n);
    if (rec_drop_) hd_.resize(T * B, n);
    step_.resize(B, G);
    // Each sample's rows depend only on its own earlier steps: a thread runs its chunk of the batch
    // through every step, with no synchronisation between steps.
    const int64_t chunks = row_chunks(B);
    parallel_for(chunks, [&](int64_t c) {
        const int64_t r0 = chunk_start(B, chunks, c), m = chunk_rows(B, chunks, c);
        for (int64_t t = 0; t < T; ++t) step_forward(t, B, r0, m);
    });

    if (!opt_.return_sequences) {
        y = h_.bottomRows(B);
        return;
    }
    y.resize(B, T * n);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t b = 0; b < B; ++b) {
            float* d = y.data() + b * T * n + t * n;
            if (zero_masked_ && masked(b, t)) std::fill(d, d + n, 0.0f);
            else std::memcpy(d, h_.data() + ((t + 1) * B + b) * n, size_t(n) * sizeof(float));
        }
}

void Recurrent::step_forward(int64_t t, int64_t B, int64_t r0, int64_t m) {
    // Rows r0 .. r0 + m of step t (the batch splits across threads; every row is independent).
    const int64_t n = n_, G = gates() * n_;
    const Act act = act_kind(opt_.activation), rec = act_kind(opt_.recurrent_activation);
    const int64_t row = t * B + r0;  // this chunk's first row in the per-step buffers
    float* zt = z_.data() + row * G;
    const float* hp = h_.data() + row * n;
    float* hn = h_.data() + (row + B) * n;
    const float* hin = hp;  // h₋₁ as it enters the recurrent product
    if (rec_drop_) {
        float* hd = hd_.data() + row * n;
        const float* rm = rec_mask_.data() + r0 * n;
        for (int64_t i = 0; i < m * n; ++i) hd[i] = hp[i] * rm[i];
        hin = hd;
    }
    const float* U = u_.data();
    float* s = step_.data() + r0 * G;
    auto gate = [&](int k) { return blk(zt + k * n, m, n, G); };
    auto HP = cblk(hp, m, n, n);
    auto HN = blk(hn, m, n, n);
    switch (opt_.cell) {
        case Cell::Simple: {
            gemm(m, n, n, hin, n, 1, U, n, s, n);
            Block a = gate(0);
            a += cblk(s, m, n, n);
            act_apply(act, a);
            HN = a;
            break;
        }
        case Cell::Lstm: {
            gemm(m, n, G, hin, n, 1, U, G, s, G);
            if (act == Act::Tanh && rec == Act::Sigmoid) {  // Keras' defaults: one pass per row, in L1
                using A = Eigen::Map<Eigen::ArrayXf>;
                using CA = Eigen::Map<const Eigen::ArrayXf>;
                for (int64_t b = 0; b < m; ++b) {
                    float* z = zt + b * G;
                    const float* sb = s + b * G;
                    A i(z, n), f(z + n, n), g(z + 2 * n, n), o(z + 3 * n, n);
                    i = ((i + CA(sb, n)) * 0.5f).tanh() * 0.5f + 0.5f;
                    f = ((f + CA(sb + n, n)) * 0.5f).tanh() * 0.5f + 0.5f;
                    g = (g + CA(sb + 2 * n, n)).tanh();
                    o = ((o + CA(sb + 3 * n, n)) * 0.5f).tanh() * 0.5f + 0.5f;
                    A cn(c_.data() + (row + B + b) * n, n), tc(tc_.data() + (row + b) * n, n), h(hn + b * n, n);
                    cn = f * CA(c_.data() + (row + b) * n, n) + i * g;
                    tc = cn.tanh();
                    h = o * tc;
                }
                if (mask_)
                    for (int64_t b = 0; b < m; ++b)
                        if (masked(r0 + b, t)) {
                            std::memcpy(c_.data() + (row + B + b) * n, c_.data() + (row + b) * n, size_t(n) * sizeof(float));
                            std::memcpy(hn + b * n, hp + b * n, size_t(n) * sizeof(float));
                        }
                return;
            }
            blk(zt, m, G, G) += cblk(s, m, G, G);
            act_apply(rec, blk(zt, m, 2 * n, G));  // i, f
            act_apply(act, gate(2));               // c̃
            act_apply(rec, gate(3));               // o
            auto CP = cblk(c_.data() + row * n, m, n, n);
            auto CN = blk(c_.data() + (row + B) * n, m, n, n);
            auto TC = blk(tc_.data() + row * n, m, n, n);
            CN = gate(1).cwiseProduct(CP) + gate(0).cwiseProduct(gate(2));
            TC = CN;
            act_apply(act, TC);
            HN = gate(3).cwiseProduct(TC);
            if (mask_)
                for (int64_t b = 0; b < m; ++b)
                    if (masked(r0 + b, t)) CN.row(b) = CP.row(b);
            break;
        }
        case Cell::Gru: {
            auto RH = blk(rh_.data() + row * n, m, n, n);
            if (opt_.reset_after) {
                gemm(m, n, G, hin, n, 1, U, G, s, G, opt_.use_bias ? b_.data() + G : nullptr);
                blk(zt, m, 2 * n, G) += cblk(s, m, 2 * n, G);
                act_apply(rec, blk(zt, m, 2 * n, G));  // z, r
                RH = cblk(s + 2 * n, m, n, G);         // h·Uh + bᵣh
                gate(2) += gate(1).cwiseProduct(RH);
            } else {
                gemm(m, n, 2 * n, hin, n, 1, U, G, s, G);
                blk(zt, m, 2 * n, G) += cblk(s, m, 2 * n, G);
                act_apply(rec, blk(zt, m, 2 * n, G));
                RH = gate(1).cwiseProduct(cblk(hin, m, n, n));  // r ⊙ h₋₁
                gemm(m, n, n, RH.data(), n, 1, U + 2 * n, G, s + 2 * n, G);
                gate(2) += cblk(s + 2 * n, m, n, G);
            }
            act_apply(act, gate(2));
            HN = gate(0).cwiseProduct(HP) + (1.0f - gate(0).array()).matrix().cwiseProduct(gate(2));
            break;
        }
    }
    if (mask_)
        for (int64_t b = 0; b < m; ++b)
            if (masked(r0 + b, t)) HN.row(b) = HP.row(b);
}

void Recurrent::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t B = x.rows(), T = T_, F = F_, n = n_, G = gates() * n_;
    ut_ = u_.transpose();
    dz_.resize(T * B, G);
    const bool two_bias = opt_.cell == Cell::Gru && opt_.reset_after;
    if (two_bias) dr_.resize(T * B, G);
    dh_.setZero(B, n);
    if (opt_.cell == Cell::Lstm) dc_.setZero(B, n);
    dtmp_.resize(B, n);
    dtmp2_.resize(B, n);
    const int64_t chunks = row_chunks(B);
    parallel_for(chunks, [&](int64_t c) {
        const int64_t r0 = chunk_start(B, chunks, c), m = chunk_rows(B, chunks, c);
        for (int64_t t = T; t-- > 0;) {
            step_backward(t, B, r0, m, dy);
            blk(dh_.data() + r0 * n, m, n, n) = cblk(dtmp_.data() + r0 * n, m, n, n);  // dL/dh₋₁ is the next step's dh
        }
    });

    // Weight gradients as sums over steps of (B-row block)ᵀ · (its gate gradients): each block is read
    // while it is small enough for the cache, which one long product over T·B rows is not (3x slower).
    const ConstView hin = rec_drop_ ? ConstView(hd_) : ConstView(h_.topRows(T * B));
    if (opt_.cell == Cell::Gru && !opt_.reset_after) {
        sum_tn_blocks(hin, dz_, 0, 2 * n, B, gu_);
        sum_tn_blocks(rh_, dz_, 2 * n, n, B, gu_);
    } else {
        sum_tn_blocks(hin, two_bias ? dr_ : dz_, 0, G, B, gu_);
    }
    sum_tn_blocks(xt_, dz_, 0, G, B, gw_);
    if (opt_.use_bias) {  // column sums, row by row (a column-wise reduction of a row-major matrix strides)
        auto col_sums = [](const Matrix& d, float* out) {
            Eigen::Map<RowVector> o(out, d.cols());
            o.setZero();
            for (Eigen::Index r = 0; r < d.rows(); ++r) o += d.row(r);
        };
        col_sums(dz_, gb_.data());
        if (two_bias) col_sums(dr_, gb_.data() + G);
    }
    if (!dx) return;
    matmul_nt(dz_, w_, dxt_);
    dx->resize(B, T * F);
    for (int64_t t = 0; t < T; ++t) {
        const int64_t dst = opt_.go_backwards ? T - 1 - t : t;
        for (int64_t b = 0; b < B; ++b) {
            float* d = dx->data() + b * T * F + dst * F;
            const float* s = dxt_.data() + (t * B + b) * F;
            if (in_drop_) {
                const float* m = in_mask_.data() + b * F;
                for (int64_t f = 0; f < F; ++f) d[f] = s[f] * m[f];
            } else {
                std::memcpy(d, s, size_t(F) * sizeof(float));
            }
        }
    }
}

void Recurrent::step_backward(int64_t t, int64_t B, int64_t r0, int64_t m, const ConstView& dy) {
    // Rows r0 .. r0 + m of step t; dh_, dc_ rows in, dtmp_ rows out (dL/dh₋₁).
    const int64_t n = n_, G = gates() * n_;
    const Act act = act_kind(opt_.activation), rec = act_kind(opt_.recurrent_activation);
    const int64_t row = t * B + r0;
    auto DH = blk(dh_.data() + r0 * n, m, n, n);
    auto OUT = blk(dtmp_.data() + r0 * n, m, n, n);  // dL/dh₋₁
    auto TMP = blk(dtmp2_.data() + r0 * n, m, n, n);
    // DH: dL/dh_t from the later steps; add this step's output gradient.
    if (opt_.return_sequences) {
        for (int64_t b = 0; b < m; ++b)
            if (!(zero_masked_ && masked(r0 + b, t)))
                DH.row(b) += Eigen::Map<const RowVector>(dy.data() + (r0 + b) * dy.outerStride() + t * n, n);
    } else if (t == T_ - 1) {
        DH += dy.middleRows(r0, m);
    }
    const float* zt = z_.data() + row * G;
    float* dzt = dz_.data() + row * G;
    auto gate = [&](int k) { return cblk(zt + k * n, m, n, G); };
    auto dgate = [&](int k) { return blk(dzt + k * n, m, n, G); };
    const float* hp = h_.data() + row * n;
    auto HP = cblk(hp, m, n, n);
    const float* ut = ut_.data();
    auto zero_masked_rows = [&](float* p) {
        if (!mask_) return;
        for (int64_t b = 0; b < m; ++b)
            if (masked(r0 + b, t)) std::fill(p + b * G, p + b * G + G, 0.0f);
    };
    // OUT holds the recurrent product's part of dL/dh₋₁: through the recurrent dropout mask, plus the
    // path around the product (GRU's z ⊙ h₋₁); a masked step passed h₋₁ through unchanged.
    auto finish_dh = [&](const CBlock* direct_gate) {
        if (rec_drop_) OUT.array() *= cblk(rec_mask_.data() + r0 * n, m, n, n).array();
        if (direct_gate) OUT += DH.cwiseProduct(*direct_gate);
        if (mask_)
            for (int64_t b = 0; b < m; ++b)
                if (masked(r0 + b, t)) OUT.row(b) = DH.row(b);
    };
    switch (opt_.cell) {
        case Cell::Simple: {
            act_grad(act, dgate(0), DH, gate(0));
            zero_masked_rows(dzt);
            gemm(m, n, n, dzt, n, 1, ut, n, OUT.data(), n);
            finish_dh(nullptr);
            break;
        }
        case Cell::Lstm: {
            if (act == Act::Tanh && rec == Act::Sigmoid) {  // Keras' defaults: one pass per row
                using A = Eigen::Map<Eigen::ArrayXf>;
                using CA = Eigen::Map<const Eigen::ArrayXf>;
                for (int64_t b = 0; b < m; ++b) {
                    float* dz = dzt + b * G;
                    A dh(DH.data() + b * n, n), dc(dc_.data() + (r0 + b) * n, n);
                    if (masked(r0 + b, t)) {  // the state passed through: nothing reaches the gates
                        std::fill(dz, dz + G, 0.0f);
                        continue;
                    }
                    const float* z = zt + b * G;
                    CA i(z, n), f(z + n, n), g(z + 2 * n, n), o(z + 3 * n, n);
                    CA tc(tc_.data() + (row + b) * n, n), cp(c_.data() + (row + b) * n, n);
                    A(dz + 3 * n, n) = dh * tc * o * (1.0f - o);
                    dc += dh * o * (1.0f - tc.square());
                    A(dz, n) = dc * g * i * (1.0f - i);
                    A(dz + n, n) = dc * cp * f * (1.0f - f);
                    A(dz + 2 * n, n) = dc * i * (1.0f - g.square());
                    dc *= f;
                }
                gemm(m, G, n, dzt, G, 1, ut, n, OUT.data(), n);
                finish_dh(nullptr);
                break;
            }
            auto TC = cblk(tc_.data() + row * n, m, n, n);
            auto CP = cblk(c_.data() + row * n, m, n, n);
            auto DC = blk(dc_.data() + r0 * n, m, n, n);
            act_grad(rec, dgate(3), DH.cwiseProduct(TC), gate(3));         // o
            act_grad(act, TMP, DH.cwiseProduct(gate(3)), TC);              // dL/dc_t
            TMP += DC;
            act_grad(rec, dgate(0), TMP.cwiseProduct(gate(2)), gate(0));  // i
            act_grad(rec, dgate(1), TMP.cwiseProduct(CP), gate(1));       // f
            act_grad(act, dgate(2), TMP.cwiseProduct(gate(0)), gate(2));  // c̃
            if (!mask_) {
                DC = TMP.cwiseProduct(gate(1));
            } else {
                for (int64_t b = 0; b < m; ++b)
                    if (!masked(r0 + b, t)) DC.row(b) = TMP.row(b).cwiseProduct(gate(1).row(b));  // masked: c passed through
            }
            zero_masked_rows(dzt);
            gemm(m, G, n, dzt, G, 1, ut, n, OUT.data(), n);
            finish_dh(nullptr);
            break;
        }
        case Cell::Gru: {
            auto RH = cblk(rh_.data() + row * n, m, n, n);
            act_grad(rec, dgate(0), DH.cwiseProduct(HP - gate(2)), gate(0));                    // z
            act_grad(act, dgate(2), DH.cwiseProduct((1.0f - gate(0).array()).matrix()), gate(2));  // h̃
            const CBlock zg = gate(0);  // the direct path h = z ⊙ h₋₁ + ...
            if (opt_.reset_after) {
                act_grad(rec, dgate(1), dgate(2).cwiseProduct(RH), gate(1));  // r
                float* drt = dr_.data() + row * G;
                blk(drt, m, 2 * n, G) = blk(dzt, m, 2 * n, G);
                blk(drt + 2 * n, m, n, G) = dgate(2).cwiseProduct(gate(1));
                zero_masked_rows(dzt);
                zero_masked_rows(drt);
                gemm(m, G, n, drt, G, 1, ut, n, OUT.data(), n);
            } else {
                // d(r ⊙ h₋₁) = dh̃ₐ · Uhᵀ; the reset gate's gradient and h₋₁'s second path follow from it.
                gemm(m, n, n, dzt + 2 * n, G, 1, ut + 2 * n * n, n, TMP.data(), n);
                const float* hin = rec_drop_ ? hd_.data() + row * n : hp;
                act_grad(rec, dgate(1), TMP.cwiseProduct(cblk(hin, m, n, n)), gate(1));
                zero_masked_rows(dzt);
                gemm(m, 2 * n, n, dzt, G, 1, ut, n, OUT.data(), n);
                OUT += TMP.cwiseProduct(gate(1));
            }
            finish_dh(&zg);
            break;
        }
    }
}

std::vector<ParamRef> Recurrent::params() {
    std::vector<ParamRef> p;
    p.push_back({name() + ".kernel", &w_, &gw_, &opt_.kernel_regularizer, trainable()});
    p.push_back({name() + ".recurrent_kernel", &u_, &gu_, &opt_.recurrent_regularizer, trainable()});
    if (opt_.use_bias) p.push_back({name() + ".bias", &b_, &gb_, &opt_.bias_regularizer, trainable()});
    return p;
}

// ---- Bidirectional -------------------------------------------------------------------------------

Bidirectional::Bidirectional(std::unique_ptr<Recurrent> fwd, std::string merge_mode)
    : f_(std::move(fwd)), merge_(std::move(merge_mode)) {
    b_ = std::make_unique<Recurrent>(*f_);
    b_->set_go_backwards(!f_->options().go_backwards);
}

Bidirectional::Bidirectional(const Bidirectional& o)
    : Layer(o), f_(std::make_unique<Recurrent>(*o.f_)), b_(std::make_unique<Recurrent>(*o.b_)), merge_(o.merge_),
      seq_(o.seq_), T_(o.T_), k_(o.k_), out_(o.out_) {}

Shape Bidirectional::build(const Shape& input, Rng& rng) {
    f_->set_name(name() + ".forward_" + f_->type());
    b_->set_name(name() + ".backward_" + b_->type());
    seq_ = f_->options().return_sequences;
    // As Keras: under a mask, the merged sequences hold zeros at padded steps.
    f_->set_zero_output_for_mask(seq_);
    b_->set_zero_output_for_mask(seq_);
    Shape s = f_->build(input, rng);
    b_->build(input, rng);
    k_ = f_->options().units;
    T_ = seq_ ? input[0] : 1;
    out_ = s;
    if (merge_ == "concat") out_.back() *= 2;
    return out_;
}

void Bidirectional::reverse_steps(const ConstView& in, Matrix& out) const {
    out.resize(in.rows(), in.cols());
    for (Eigen::Index b = 0; b < in.rows(); ++b)
        for (int64_t t = 0; t < T_; ++t)
            std::memcpy(out.data() + b * out.cols() + (T_ - 1 - t) * k_, in.data() + b * in.outerStride() + t * k_,
                        size_t(k_) * sizeof(float));
}

void Bidirectional::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    f_->forward(x, yf_, ctx);
    b_->forward(x, yb_, ctx);
    if (seq_) reverse_steps(yb_, ybr_);  // the backward layer's outputs, back in time order
    else ybr_ = yb_;
    const int64_t B = x.rows();
    if (merge_ == "concat") {
        y.resize(B, T_ * 2 * k_);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T_; ++t) {
                float* d = y.data() + b * y.cols() + t * 2 * k_;
                std::memcpy(d, yf_.data() + b * yf_.cols() + t * k_, size_t(k_) * sizeof(float));
                std::memcpy(d + k_, ybr_.data() + b * ybr_.cols() + t * k_, size_t(k_) * sizeof(float));
            }
    } else if (merge_ == "sum") {
        y = yf_ + ybr_;
    } else if (merge_ == "mul") {
        y = yf_.cwiseProduct(ybr_);
    } else {
        y = 0.5f * (yf_ + ybr_);
    }
}

void Bidirectional::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t B = x.rows();
    if (merge_ == "concat") {
        dyf_.resize(B, T_ * k_);
        dybr_.resize(B, T_ * k_);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T_; ++t) {
                const float* s = dy.data() + b * dy.outerStride() + t * 2 * k_;
                std::memcpy(dyf_.data() + b * dyf_.cols() + t * k_, s, size_t(k_) * sizeof(float));
                std::memcpy(dybr_.data() + b * dybr_.cols() + t * k_, s + k_, size_t(k_) * sizeof(float));
            }
    } else if (merge_ == "sum") {
        dyf_ = dy;
        dybr_ = dy;
    } else if (merge_ == "mul") {
        dyf_ = dy.cwiseProduct(ybr_);
        dybr_ = dy.cwiseProduct(yf_);
    } else {
        dyf_ = 0.5f * dy;
        dybr_ = dyf_;
    }
    if (seq_) reverse_steps(dybr_, dyb_);
    else dyb_ = dybr_;
    f_->backward(x, yf_, dyf_, dx);
    b_->backward(x, yb_, dyb_, dx ? &dxb_ : nullptr);
    if (dx) *dx += dxb_;
}

std::vector<ParamRef> Bidirectional::params() {
    std::vector<ParamRef> p = f_->params();
    for (auto& q : b_->params()) p.push_back(q);
    for (auto& q : p) q.trainable = q.trainable && trainable();
    return p;
}

// ---- schemas -------------------------------------------------------------------------------------

LayerSchema Recurrent::schema(Cell cell) {
    LayerSchema s;
    s.type = type_name(cell);
    const bool gates = cell != Cell::Simple;
    s.doc = cell == Cell::Lstm  ? "Long short-term memory over (steps, features): gates i, f, c, o as Keras"
            : cell == Cell::Gru ? "Gated recurrent unit over (steps, features): gates z, r, h as Keras"
                                : "Fully connected recurrent layer over (steps, features): act(x·W + h·U + b)";
    s.options = {
        opt_int("units", 0, "state width").needed("the state's width").range(1, 1'000'000),
        opt_activation("activation", "tanh", gates ? "applied to the candidate (and the cell state's output)"
                                                   : "applied to x·kernel + h·recurrent_kernel + bias"),
    };
    if (gates) s.options.push_back(opt_activation("recurrent_activation", "sigmoid", "applied to the gates"));
    s.options.push_back(opt_bool("use_bias", true, "add bias vectors"));
    s.options.push_back(opt_bool("return_sequences", false, "output every step (steps, units), not only the last"));
    s.options.push_back(opt_bool("go_backwards", false, "run the sequence last step first (outputs in that order)"));
    s.options.push_back(opt_number("dropout", 0.0, "fraction of the inputs dropped (one mask per sequence)").range(0, 1, false, true));
    s.options.push_back(opt_number("recurrent_dropout", 0.0, "fraction of the state dropped where it enters the recurrent product")
                            .range(0, 1, false, true));
    if (cell == Cell::Lstm) s.options.push_back(opt_bool("unit_forget_bias", true, "start the forget gate's bias at 1"));
    if (cell == Cell::Gru)
        s.options.push_back(opt_bool("reset_after", true, "apply the reset gate after the recurrent product (two bias rows)"));
    s.options.push_back(opt_initializer("kernel_initializer", "glorot_uniform", "initial kernel, shape (features, gates·units)"));
    s.options.push_back(opt_initializer("recurrent_initializer", "orthogonal", "initial recurrent kernel, (units, gates·units)"));
    s.options.push_back(opt_initializer("bias_initializer", "zeros", "initial bias"));
    s.options.push_back(opt_regularizer("kernel_regularizer", "penalty on the kernel"));
    s.options.push_back(opt_regularizer("recurrent_regularizer", "penalty on the recurrent kernel"));
    s.options.push_back(opt_regularizer("bias_regularizer", "penalty on the bias"));
    s.check = [gates](const LayerOptions& o) { return check_activations(o, gates); };
    s.make = [cell, gates](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options r;
        r.cell = cell;
        r.units = o.integer("units");
        r.activation = o.activation("activation");
        if (gates) r.recurrent_activation = o.activation("recurrent_activation");
        else r.recurrent_activation.name = "sigmoid";
        r.use_bias = o.flag("use_bias");
        r.return_sequences = o.flag("return_sequences");
        r.go_backwards = o.flag("go_backwards");
        r.dropout = o.number("dropout");
        r.recurrent_dropout = o.number("recurrent_dropout");
        if (cell == Cell::Lstm) r.unit_forget_bias = o.flag("unit_forget_bias");
        if (cell == Cell::Gru) r.reset_after = o.flag("reset_after");
        r.kernel_initializer = o.initializer("kernel_initializer");
        r.recurrent_initializer = o.initializer("recurrent_initializer");
        r.bias_initializer = o.initializer("bias_initializer");
        r.kernel_regularizer = o.regularizer("kernel_regularizer");
        r.recurrent_regularizer = o.regularizer("recurrent_regularizer");
        r.bias_regularizer = o.regularizer("bias_regularizer");
        return std::make_unique<Recurrent>(r);
    };
    return s;
}

LayerSchema Bidirectional::schema() {
    LayerSchema s;
    s.type = "bidirectional";
    s.doc = "Runs a recurrent layer forwards and a copy backwards, and merges their outputs";
    s.options = {
        opt_layer("layer", "the recurrent layer: {type: lstm | gru | simple_rnn, units: ..., ...}"),
        opt_choice("merge_mode", "concat", {"concat", "sum", "mul", "ave"}, "how the two outputs are combined"),
    };
    s.check = [](const LayerOptions& o) {
        std::vector<OptionProblem> p;
        const std::string& t = o.layer("layer").type;
        if (!t.empty() && t != "lstm" && t != "gru" && t != "simple_rnn")
            p.push_back({"layer", "bidirectional wraps a recurrent layer (lstm, gru, simple_rnn), not " + t});
        return p;
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        std::unique_ptr<Layer> inner = make_nested_layer(o.layer("layer"));
        auto* r = dynamic_cast<Recurrent*>(inner.get());
        if (!r) throw ConfigError("bidirectional wraps a recurrent layer (lstm, gru, simple_rnn)");
        inner.release();
        return std::make_unique<Bidirectional>(std::unique_ptr<Recurrent>(r), o.text("merge_mode"));
    };
    return s;
}

}  // namespace nnctl
