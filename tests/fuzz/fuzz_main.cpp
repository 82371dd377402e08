// One libFuzzer executable per target: NNCTL_FUZZ_TARGET names it (see targets.cpp).
#include <cstdlib>

#include "targets.hpp"

#define NNCTL_STR2(x) #x
#define NNCTL_STR(x) NNCTL_STR2(x)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const nnctl::fuzz::Target* t = nnctl::fuzz::find_target(NNCTL_STR(NNCTL_FUZZ_TARGET));
    if (!t) std::abort();
    t->run(data, size);
    return 0;
}
