// tidemark's entry point: only wiring; the commands live in commands.cc.
#include "cli/commands.h"

int main(int argc, char** argv) { return tidemark::cli::Main(argc, argv, nullptr); }
