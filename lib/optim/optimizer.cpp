#include "optim/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace nnctl {

Matrix& Optimizer::state(std::vector<Matrix>& bank, size_t slot, const Matrix& w, float init) {
    if (bank.size() <= slot) bank.resize(slot + 1);
    Matrix& m = bank[slot];
    if (m.rows() != w.rows() || m.cols() != w.cols()) m.setConstant(w.rows(), w.cols(), init);
    return m;
}

void Optimizer::step(const std::vector<ParamRef>& params) {
    const double lr = current_learning_rate();
    double global_scale = 1.0;
    if (spec_.global_clipnorm > 0.0) {
        double sq = 0.0;
        for (const auto& p : params)
            if (p.trainable) sq += double(p.grad->squaredNorm());
        double norm = std::sqrt(sq);
        if (norm > spec_.global_clipnorm) global_scale = spec_.global_clipnorm / norm;
    }
    const bool clip = spec_.clipnorm > 0.0 || spec_.clipvalue > 0.0 || global_scale != 1.0;
    for (size_t slot = 0; slot < params.size(); ++slot) {
        const ParamRef& p = params[slot];
        if (!p.trainable) continue;
        if (!clip) {
            update(slot, *p.value, *p.grad, lr);
            continue;
        }
        clipped_ = *p.grad;
        if (global_scale != 1.0) clipped_ *= float(global_scale);
        if (spec_.clipnorm > 0.0) {
            double n = double(clipped_.norm());
            if (n > spec_.clipnorm) clipped_ *= float(spec_.clipnorm / n);
        }
        if (spec_.clipvalue > 0.0)
            clipped_ = clipped_.cwiseMax(float(-spec_.clipvalue)).cwiseMin(float(spec_.clipvalue));
        update(slot, *p.value, clipped_, lr);
    }
    ++iterations_;
}

void Optimizer::export_state(std::vector<std::pair<std::string, const Matrix*>>& tensors,
                             std::vector<std::pair<std::string, double>>& scalars) const {
    auto* self = const_cast<Optimizer*>(this);  // banks() hands out the containers; nothing is changed
    for (auto& [name, bank] : self->banks())
        for (size_t k = 0; k < bank->size(); ++k)
            if ((*bank)[k].size() > 0) tensors.emplace_back(std::string(name) + "/" + std::to_string(k), &(*bank)[k]);
    scalars.emplace_back("iterations", double(iterations_));
    scalars.emplace_back("lr_factor", lr_factor_);
    for (auto& [name, v] : self->extra_scalars()) scalars.emplace_back(name, *v);
}

void Optimizer::import_state(const std::map<std::string, Matrix>& tensors, const std::map<std::string, double>& scalars) {
    for (auto& [name, bank] : banks()) {
        bank->clear();
        const std::string prefix = std::string(name) + "/";
        for (const auto& [k, m] : tensors) {
            if (k.compare(0, prefix.size(), prefix) != 0) continue;
            const size_t slot = size_t(std::stoul(k.substr(prefix.size())));
            if (bank->size() <= slot) bank->resize(slot + 1);
            (*bank)[slot] = m;
        }
    }
    auto need = [&](const char* k) {
        auto it = scalars.find(k);
        if (it == scalars.end()) throw DataError(std::string("checkpoint: the optimizer state has no '") + k + "'");
        return it->second;
    };
    iterations_ = int64_t(need("iterations"));
    lr_factor_ = need("lr_factor");
    for (auto& [name, v] : extra_scalars()) *v = need(name);
}

namespace {

/// v ← μv − lr·g;  w ← w + v  (nesterov: w ← w + μv − lr·g); plain w ← w − lr·g without momentum.
class Sgd : public Optimizer {
public:
    using Optimizer::Optimizer;
    std::unique_ptr<Optimizer> clone() const override { return std::make_unique<Sgd>(*this); }

protected:
    void update(size_t slot, Matrix& w, const Matrix& g, double lr) override {
        const float l = float(lr), mu = float(spec_.momentum);
        if (spec_.momentum == 0.0) {
            w.noalias() -= l * g;
            return;
        }
        Matrix& v = state(vel_, slot, w);
        v = mu * v - l * g;
        if (spec_.nesterov) w += mu * v - l * g;
        else w += v;
    }

    std::vector<std::pair<const char*, std::vector<Matrix>*>> banks() override { return {{"velocity", &vel_}}; }

private:
    std::vector<Matrix> vel_;
};

/// Adam / AdamW (Keras 3): m, v moments; lr_t = lr·√(1−β2^t)/(1−β1^t); w −= lr_t·m/(√v̂+ε).
class Adam : public Optimizer {
public:
    Adam(OptimizerSpec s, bool decoupled) : Optimizer(std::move(s)), decoupled_(decoupled) {}
    std::unique_ptr<Optimizer> clone() const override { return std::make_unique<Adam>(*this); }

protected:
    void update(size_t slot, Matrix& w, const Matrix& g, double lr) override {
        if (corr_step_ != iterations_) {  // bias corrections: once per step, not per tensor
            const double t = double(iterations_ + 1);
            corr_ = std::sqrt(1.0 - std::pow(spec_.beta_2, t)) / (1.0 - std::pow(spec_.beta_1, t));
            corr_step_ = iterations_;
        }
        const float b1 = float(spec_.beta_1), b2 = float(spec_.beta_2);
        const float lr_t = float(lr * corr_);
        const float eps = float(spec_.epsilon);
        if (decoupled_ && spec_.weight_decay != 0.0) w *= float(1.0 - lr * spec_.weight_decay);
        Matrix& m = state(m_, slot, w);
        Matrix& v = state(v_, slot, w);
        Matrix* vh = spec_.amsgrad ? &state(vhat_, slot, w) : nullptr;
        // One fused pass over w, m, v (vectorized: the build uses -fno-math-errno, so sqrtf is inline).
        float* __restrict wp = w.data();
        float* __restrict mp = m.data();
        float* __restrict vp = v.data();
        const float* __restrict gp = g.data();
        const Eigen::Index n = w.size();
        const float c1 = 1.0f - b1, c2 = 1.0f - b2;
        if (!vh) {
            // Elementwise, so a large tensor splits over the threads with the same bits (a CNN's first
            // dense kernel, 205k weights, is ~0.1 ms a step on one core).
            const int threads = n >= (Eigen::Index(1) << 16) ? num_threads() : 1;
            (void)threads;
#pragma omp parallel num_threads(threads) if (threads > 1)
            {
                flush_denormals();  // g² of a small gradient is a denormal soon enough
#pragma omp for simd schedule(static)
                for (Eigen::Index i = 0; i < n; ++i) {
                    const float gi = gp[i];
                    const float mi = mp[i] + (gi - mp[i]) * c1;
                    const float vi = vp[i] + (gi * gi - vp[i]) * c2;
                    mp[i] = mi;
                    vp[i] = vi;
                    wp[i] -= lr_t * mi / (std::sqrt(vi) + eps);
                }
            }
        } else {
            float* __restrict hp = vh->data();
            for (Eigen::Index i = 0; i < n; ++i) {
                const float gi = gp[i];
                mp[i] += (gi - mp[i]) * c1;
                vp[i] += (gi * gi - vp[i]) * c2;
                hp[i] = std::max(hp[i], vp[i]);
                wp[i] -= lr_t * mp[i] / (std::sqrt(hp[i]) + eps);
            }
        }
    }

private:
    bool decoupled_;
    std::vector<std::pair<const char*, std::vector<Matrix>*>> banks() override {
        return {{"m", &m_}, {"v", &v_}, {"vhat", &vhat_}};
    }
    std::vector<Matrix> m_, v_, vhat_;
    int64_t corr_step_ = -1;
    double corr_ = 1.0;
};

/// RMSprop (Keras 3): v ← ρv + (1−ρ)g²; centered: a ← ρa + (1−ρ)g, denom v − a²;
/// inc = lr·g/√(denom+ε); with momentum m ← μm + inc, w −= m; else w −= inc.
class RmsProp : public Optimizer {
public:
    using Optimizer::Optimizer;
    std::unique_ptr<Optimizer> clone() const override { return std::make_unique<RmsProp>(*this); }

protected:
    void update(size_t slot, Matrix& w, const Matrix& g, double lr) override {
        const float rho = float(spec_.rho), eps = float(spec_.epsilon), l = float(lr);
        Matrix& v = state(v_, slot, w);
        v = rho * v + (1.0f - rho) * g.cwiseAbs2();
        Matrix denom = v;
        if (spec_.centered) {
            Matrix& a = state(avg_, slot, w);
            a = rho * a + (1.0f - rho) * g;
            denom -= a.cwiseAbs2();
        }
        Matrix inc = (l * g.array() / (denom.array() + eps).sqrt()).matrix();
        if (spec_.momentum > 0.0) {
            Matrix& m = state(mom_, slot, w);
            m = float(spec_.momentum) * m + inc;
            w -= m;
        } else {
            w -= inc;
        }
    }

private:
    std::vector<std::pair<const char*, std::vector<Matrix>*>> banks() override {
        return {{"v", &v_}, {"average", &avg_}, {"momentum", &mom_}};
    }
    std::vector<Matrix> v_, avg_, mom_;
};

/// Adagrad (Keras 3): acc ← acc + g² (starting at initial_accumulator_value); w −= lr·g/√(acc+ε).
class Adagrad : public Optimizer {
public:
    using Optimizer::Optimizer;
    std::unique_ptr<Optimizer> clone() const override { return std::make_unique<Adagrad>(*this); }

protected:
    void update(size_t slot, Matrix& w, const Matrix& g, double lr) override {
        Matrix& acc = state(acc_, slot, w, float(spec_.initial_accumulator_value));
        acc += g.cwiseAbs2();
        w.array() -= float(lr) * g.array() / (acc.array() + float(spec_.epsilon)).sqrt();
    }

private:
    std::vector<std::pair<const char*, std::vector<Matrix>*>> banks() override { return {{"accumulator", &acc_}}; }
    std::vector<Matrix> acc_;
};

/// Nadam (Keras 3): momentum schedule u_t = β1(1 − ½·0.96^t), running product of u_t.
class Nadam : public Optimizer {
public:
    using Optimizer::Optimizer;
    std::unique_ptr<Optimizer> clone() const override { return std::make_unique<Nadam>(*this); }

protected:
    void update(size_t slot, Matrix& w, const Matrix& g, double lr) override {
        const double t = double(iterations_ + 1), b1 = spec_.beta_1, b2 = spec_.beta_2;
        const double u_t = b1 * (1.0 - 0.5 * std::pow(0.96, t));
        const double u_t1 = b1 * (1.0 - 0.5 * std::pow(0.96, t + 1.0));
        // The running product of u is shared by all slots: advance it once per step.
        if (last_t_ != double(iterations_)) {
            last_t_ = double(iterations_);
            u_product_ *= u_t;
        }
        const double u_prod_t = u_product_, u_prod_t1 = u_product_ * u_t1;
        Matrix& m = state(m_, slot, w);
        Matrix& v = state(v_, slot, w);
        m += (g - m) * float(1.0 - b1);
        v += (g.cwiseAbs2() - v) * float(1.0 - b2);
        const float c1 = float(u_t1 / (1.0 - u_prod_t1)), c2 = float((1.0 - u_t) / (1.0 - u_prod_t));
        const float vc = float(1.0 / (1.0 - std::pow(b2, t)));
        w.array() -= float(lr) * (c1 * m.array() + c2 * g.array()) / ((v.array() * vc).sqrt() + float(spec_.epsilon));
    }

    std::vector<std::pair<const char*, std::vector<Matrix>*>> banks() override { return {{"m", &m_}, {"v", &v_}}; }
    std::vector<std::pair<const char*, double*>> extra_scalars() override { return {{"u_product", &u_product_}, {"last_t", &last_t_}}; }

private:
    std::vector<Matrix> m_, v_;
    double u_product_ = 1.0;
    double last_t_ = -1;  // the step u_product_ was last advanced at (a double: it is checkpointed with the scalars)
};

}  // namespace

const std::vector<std::string>& optimizer_names() {
    static const std::vector<std::string> names = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam"};
    return names;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec) {
    if (spec.type == "sgd") return std::make_unique<Sgd>(spec);
    if (spec.type == "adam") return std::make_unique<Adam>(spec, false);
    if (spec.type == "adamw") return std::make_unique<Adam>(spec, true);
    if (spec.type == "rmsprop") return std::make_unique<RmsProp>(spec);
    if (spec.type == "adagrad") return std::make_unique<Adagrad>(spec);
    if (spec.type == "nadam") return std::make_unique<Nadam>(spec);
    throw ConfigError("unknown optimizer '" + spec.type + "'");
}

}  // namespace nnctl
