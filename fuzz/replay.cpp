// Replays a fuzz target over inputs, without libFuzzer: the target's built-in seeds, then
// every file of the folders (or files) named on the command line: the seed corpus and the
// regression inputs, each a past finding. A finding aborts, naming the input.
//
//   replay_idx fuzz/corpus/idx fuzz/regressions/idx
//   replay_idx --write-seeds DIR   (writes the built-in seeds as DIR/seed-N)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz.hpp"

namespace fs = std::filesystem;

namespace {

int replay(const std::string& name, const std::string& bytes) {
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", name.c_str(), bytes.size());
    return LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const std::vector<std::string> seeds = adjoint::fuzz::seeds();
    if (args.size() == 2 && args[0] == "--write-seeds") {
        fs::create_directories(args[1]);
        for (std::size_t i = 0; i < seeds.size(); ++i)
            std::ofstream(fs::path(args[1]) / ("seed-" + std::to_string(i)), std::ios::binary) << seeds[i];
        return 0;
    }
    std::size_t count = 0;
    for (std::size_t i = 0; i < seeds.size(); ++i, ++count) replay("built-in seed " + std::to_string(i), seeds[i]);
    for (const std::string& arg : args) {
        std::vector<fs::path> files;
        if (fs::is_directory(arg)) {
            for (const auto& e : fs::directory_iterator(arg))
                if (e.is_regular_file() && !e.path().filename().string().starts_with("."))  // .keep holds a folder
                    files.push_back(e.path());
        } else if (fs::is_regular_file(arg)) {
            files.push_back(arg);
        } else {
            std::fprintf(stderr, "replay: \"%s\" is neither a file nor a folder\n", arg.c_str());
            return 2;
        }
        std::sort(files.begin(), files.end());
        for (const fs::path& f : files) {
            replay(f.string(), read(f));
            ++count;
        }
    }
    std::printf("replay: %zu inputs, no finding\n", count);
    return 0;
}
