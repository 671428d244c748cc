"""The open-day calendar's views: public (parents), staff (the school), bureau."""
