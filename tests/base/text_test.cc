#include "base/text.h"

#include <gmock/gmock.h>

namespace tidemark {
namespace {

const std::string kEuro = "\xE2\x82\xAC";  // U+20AC, three bytes
const std::string kReplacement = "\xEF\xBF\xBD";

TEST(TruncateTest, KeepsShortTextAndCutsLongTextWithAnEllipsis) {
  EXPECT_EQ(Truncate("select 1", 8), "select 1");
  EXPECT_EQ(Truncate("select 12", 8), "selec...");
  EXPECT_EQ(Truncate("abc", 2), "..");
}

TEST(TruncateTest, NeverSplitsACharacterWhereverTheCutFalls) {
  const std::string text = "ab" + kEuro + kEuro + "cd";  // 10 bytes
  // Room for 5 bytes before the ellipsis: "ab" and the first euro sign fit.
  EXPECT_EQ(Truncate(text, 8), "ab" + kEuro + "...");
  // Room for 4, 3: the euro sign does not fit whole, so it goes.
  EXPECT_EQ(Truncate(text, 7), "ab...");
  EXPECT_EQ(Truncate(text, 6), "ab...");
  EXPECT_EQ(Truncate(text, 5), "ab...");
  for (size_t limit = 0; limit < 40; ++limit) {
    const std::string cut = Truncate(text + text + "\xF0\x9F\x98\x80" + text, limit);
    EXPECT_LE(cut.size(), limit);
    EXPECT_EQ(FirstInvalidUtf8(cut), std::nullopt) << limit;
  }
}

TEST(Utf8Test, FindsTheFirstIllFormedByte) {
  EXPECT_EQ(FirstInvalidUtf8("plain " + kEuro), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("ab\xFF"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("ab\xE2\x82"), 2u);          // cut short
  EXPECT_EQ(FirstInvalidUtf8("\xC0\xAF"), 0u);            // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("x\xED\xA0\x80"), 1u);       // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("xy\xF4\x90\x80\x80"), 2u);  // past U+10FFFF
}

TEST(Utf8Test, ReplacesEachIllFormedPartWithOneReplacementCharacter) {
  EXPECT_EQ(ToValidUtf8("ok " + kEuro), "ok " + kEuro);
  EXPECT_EQ(ToValidUtf8("a\xFF"
                        "b"),
            "a" + kReplacement + "b");
  EXPECT_EQ(ToValidUtf8("a\xE2\x82"
                        "b"),
            "a" + kReplacement + "b");  // a truncated euro sign
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), kReplacement + kReplacement);
}

TEST(Utf8Test, DumpJsonReplacesWhatAStrictDumpRefuses) {
  const nlohmann::json value = {{"message", "bad \xE2\x82 byte"}};
  EXPECT_THROW((void)value.dump(), nlohmann::json::type_error);
  EXPECT_EQ(DumpJson(value), "{\"message\":\"bad " + kReplacement + " byte\"}");
  // The same replacement as ToValidUtf8, so every output says the same thing.
  EXPECT_EQ(DumpJson(nlohmann::json("a\xFF"
                                    "b\xC0\xAF")),
            "\"" +
                ToValidUtf8("a\xFF"
                            "b\xC0\xAF") +
                "\"");
}

TEST(ListSomeTest, ListsAFewAndCountsTheRest) {
  EXPECT_EQ(ListSome({}, 3), "");
  EXPECT_EQ(ListSome({"a"}, 3), "a");
  EXPECT_EQ(ListSome({"a", "b", "c", "d"}, 3), "a, b, c, d");  // "and 1 more" saves nothing
  EXPECT_EQ(ListSome({"a", "b"}, 3, "; "), "a; b");
  EXPECT_EQ(ListSome({"a", "b", "c", "d", "e"}, 3), "a, b, c and 2 more");
  std::vector<std::string> many(10000, "x");
  EXPECT_EQ(ListSome(many, 4), "x, x, x, x and 9,996 more");
  EXPECT_EQ(GroupThousands(1234567), "1,234,567");
  EXPECT_EQ(GroupThousands(999), "999");
}

}  // namespace
}  // namespace tidemark
