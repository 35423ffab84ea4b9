#include "base/hash.h"

#include <gtest/gtest.h>

#include "base/base64.h"

namespace tidemark {
namespace {

TEST(HashTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Base64Test, RoundTripAndKubectlShapes) {
  EXPECT_EQ(Base64Encode("hunter2"), "aHVudGVyMg==");
  EXPECT_EQ(*Base64Decode("aHVudGVyMg=="), "hunter2");
  EXPECT_EQ(*Base64Decode("aHVudG\nVyMg=="), "hunter2");  // wrapped, as kubectl writes it
  EXPECT_EQ(*Base64Decode("aHVudGVyMg"), "hunter2");      // padding left out
  EXPECT_EQ(*Base64Decode(""), "");
  EXPECT_FALSE(Base64Decode("not base64!").ok());
}

}  // namespace
}  // namespace tidemark
