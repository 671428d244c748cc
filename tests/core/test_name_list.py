"""Lists of names in the words of the page's language."""

from __future__ import annotations

from kaimen import name_list


def test_names_are_listed_as_each_language_lists_them(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert name_list(["城北中学", "陆溪中学", "实验中学"]) == "城北中学、陆溪中学和实验中学"
        assert name_list(iter(["城北中学"])) == "城北中学"
        assert name_list([]) == ""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert name_list(["Chengbei", "Luxi", "Shiyan"]) == "Chengbei, Luxi, and Shiyan"
